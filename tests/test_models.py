"""Reference models: architecture facts of the authors' code, shapes, parameter counts, wrappers."""

from __future__ import annotations

import importlib.util
import inspect
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from oneshotbench.metrics import center_of_mass
from reference_models import count_parameters, create_model, list_models
from reference_models.checkpoint import CheckpointInfo, save_checkpoint
from reference_models.encoders import Encoder
from reference_models.layers import (
    ConvLN,
    crop_transformer,
    instance_centers,
    layer_norm,
    tf_same_padding,
    window_crop,
)
from reference_models.masknet import MaskNet
from reference_models.normalization import InputStats, compute_input_stats
from reference_models.template_matching import (
    TemplateGrid,
    TemplateMatcher,
    cosine,
    make_templates,
)

STATS = InputStats(mean=25.0, std=55.0)
SUBMISSIONS = Path(__file__).resolve().parents[1] / "submissions"


def test_registry_lists_every_network() -> None:
    assert list_models() == [
        "cluttered_discriminator",
        "masknet",
        "masknet_untargeted",
        "presegmented_discriminator",
        "siamese_unet",
    ]


# Sources (/work/shared/reference-spec.md, the authors' model.py): §3.4 "whole Siamese U-Net
# 3,223,922"; §3.6 MaskNet "Total parameters 4,208,402" (the untargeted variant, §3.7, only drops
# the similarity factor, which has no weights); §3.2 "Parameters per encoder: 984,096", and §3.6
# items 5-6: the discriminator is a target encoder plus "384 weights" of a weighted L1 distance,
# which the oracle discriminators (§3.7) apply to the target's and the crop's encodings.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("siamese_unet", 3_223_922),
        ("masknet", 4_208_402),
        ("masknet_untargeted", 4_208_402),
        ("presegmented_discriminator", 2 * 984_096 + 384),
        ("cluttered_discriminator", 2 * 984_096 + 384),
    ],
)
def test_paper_size_trainable_parameter_counts(name: str, expected: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        assert count_parameters(create_model(name, "paper")) == expected


def test_encoder_parameters_and_shapes() -> None:
    target, scene = Encoder(24, dilated=False), Encoder(24, dilated=True)
    assert count_parameters(target) == count_parameters(scene) == 984_096  # reference spec §3.2
    t_points = target(torch.randn(2, 3, 32, 32))
    s_points = scene(torch.randn(2, 3, 96, 96))
    assert [tuple(p.shape[1:]) for p in t_points] == [
        (48, 32, 32),
        (96, 16, 16),
        (192, 8, 8),
        (192, 4, 4),
        (384, 2, 2),
        (384, 1, 1),
    ]
    assert [tuple(p.shape[1:]) for p in s_points] == [
        (48, 96, 96),
        (96, 48, 48),
        (192, 24, 24),
        (192, 12, 12),
        (384, 12, 12),
        (384, 12, 12),
    ]


def test_tf_same_padding_of_even_and_dilated_kernels() -> None:
    assert tf_same_padding(2) == (0, 1, 0, 1)
    assert tf_same_padding(2, dilation=2) == (1, 1, 1, 1)
    assert tf_same_padding(3) == (1, 1, 1, 1)
    assert tf_same_padding(1) == (0, 0, 0, 0)
    conv = ConvLN(1, 1, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]))
    x = torch.arange(16.0).view(1, 1, 4, 4)
    raw = F.conv2d(F.pad(x, conv.padding), conv.weight)
    assert torch.equal(raw, x)  # TF pads after: the top-left tap sees the pixel itself


def test_layer_norm_is_groupnorm_without_gain() -> None:
    x = torch.randn(3, 5, 4, 4)
    bias = torch.randn(5)
    reference = torch.nn.GroupNorm(1, 5, eps=1e-12)
    with torch.no_grad():
        reference.weight.fill_(1.0)
        reference.bias.copy_(bias)
    torch.testing.assert_close(layer_norm(x, bias), reference(x))
    conv = ConvLN(5, 7, 3)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "norm.bias"]


def test_variance_scaling_initialisation() -> None:
    conv = ConvLN(192, 384, 2)  # fan_in 768, fan_out 1536
    std = math.sqrt(1.3 * 2 / ((768 + 1536) / 2))
    w = conv.weight.detach()
    assert w.abs().max() <= 2 * std + 1e-6
    assert abs(w.std().item() - std * 0.8796) < 0.03 * std  # truncation shrinks the std


@pytest.mark.parametrize("name", ["siamese_unet", "masknet", "masknet_untargeted"])
def test_segmentation_models_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, "tiny", STATS)
    logits = model(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 96, 96))
    assert logits.shape == (2, 2, 96, 96)
    # the classifier is layer-normalised: per-sample standardised logits
    flat = logits.detach().flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(2), atol=1e-4, rtol=0)
    logits.float().mean().backward()
    assert model.decoder.convs[0].weight.grad is not None


def test_masknet_batched_proposals_equal_one_at_a_time() -> None:
    torch.manual_seed(0)
    model = MaskNet(4, STATS).eval()
    targets, scenes = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        all_logits, vectors = model.decode(targets, scenes)
        assert all_logits.shape == (2, 144, 2, 96, 96) and vectors.shape == (2, 64)
        for cell in (0, 77, 143):
            single, _ = model.decode(targets, scenes, torch.full((2, 1), cell))
            torch.testing.assert_close(single[:, 0], all_logits[:, cell], atol=1e-4, rtol=1e-4)
        scores = model.score(torch.softmax(all_logits, 2)[:, :, 1], vectors)
        chosen = model(targets, scenes)
    assert scores.shape == (2, 144) and ((scores > 0) & (scores < 1)).all()
    best = scores.argmax(1)
    torch.testing.assert_close(chosen, all_logits[torch.arange(2), best])


def test_untargeted_seed_ignores_the_target() -> None:
    torch.manual_seed(0)
    model = MaskNet(4, STATS, targeted=False).eval()
    scenes = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        a, _ = model.decode(torch.rand(1, 3, 32, 32), scenes, torch.tensor([[5]]))
        b, _ = model.decode(torch.rand(1, 3, 32, 32), scenes, torch.tensor([[5]]))
    torch.testing.assert_close(a, b)


def test_crop_transformer_follows_the_tf_spatial_transformer() -> None:
    image = torch.arange(96.0 * 96).view(1, 1, 96, 96)
    crop = crop_transformer(image, torch.tensor([[40, 50]]), 32)
    # sample j of the output reads x = (linspace(-1,1,32)_j / 3 + 2*40/95 - 1 + 1) * 96 / 2
    grid = torch.linspace(-1, 1, 32)
    xs = (grid / 3 + 2 * 40 / 95) * 48
    ys = (grid / 3 + 2 * 50 / 95) * 48
    expected = ys[:, None] * 96 + xs[None, :]  # bilinear of a linear ramp is exact
    torch.testing.assert_close(crop[0, 0], expected, atol=1e-2, rtol=0)
    corner = crop_transformer(torch.ones(1, 1, 96, 96), torch.tensor([[0, 0]]), 32)
    assert corner[0, 0, 0, 0] == 0 and corner[0, 0, -1, -1] == 1  # outside reads 0


def test_window_crop_and_instance_centers() -> None:
    imap = torch.zeros(2, 96, 96, dtype=torch.int64)
    imap[0, 10:20, 30:34] = 1
    imap[0, 50:53, 0:5] = 3
    imap[1, 90:96, 90:96] = 2
    centers, visible = instance_centers(imap, 3)
    assert visible.tolist() == [[True, False, True], [False, True, False]]
    for k in (1, 3):
        expected = center_of_mass(imap[:1] == k)[0]
        assert centers[0, k - 1].tolist() == expected.tolist()
    assert centers[0, 1].tolist() == [-1, -1]
    crops = window_crop(imap[:, None].float(), torch.tensor([0, 1]), centers[[0, 1], [0, 1]], 32)
    assert crops.shape == (2, 1, 32, 32)
    assert crops[0, 0, 16, 16] == 1 and crops[0, 0].eq(1).sum() == 40
    assert crops[1, 0].eq(2).sum() == 36  # clipped at the scene border, zeros beyond


def test_input_stats_ignore_batching_and_stop_at_limit() -> None:
    gen = torch.Generator().manual_seed(0)
    scenes = torch.randint(0, 256, (12, 3, 8, 8), generator=gen, dtype=torch.uint8)
    whole = compute_input_stats([scenes], limit=10)
    pieces = compute_input_stats([scenes[:3], scenes[3:7], scenes[7:]], limit=10)
    ref = scenes[:10].double()
    assert whole == pieces
    assert math.isclose(whole.mean, ref.mean().item()) and math.isclose(
        whole.std, ref.std(unbiased=False).item(), rel_tol=1e-9
    )
    with pytest.raises(ValueError):
        InputStats(mean=1.0, std=0.0)


def test_template_grid_is_the_papers_9317() -> None:
    grid = TemplateGrid()
    matrices = grid.matrices()
    assert len(grid) == len(matrices) == 9317
    identity = ((5 * 7 + 3) * 11 + 5) * 11 + 5
    torch.testing.assert_close(matrices[identity], torch.eye(2, dtype=torch.float64))
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[6:26, 12:15] = True
    mask[22:25, 12:24] = True
    templates = make_templates(mask, grid)
    assert templates.shape == (9317, 64, 64)
    assert templates[identity].sum() == mask.sum()
    # every template is the warp of the mask by its matrix (checked on a sample of them)
    ys, xs = torch.nonzero(mask, as_tuple=True)
    com = torch.stack([xs.float().mean(), ys.float().mean()])
    offsets = torch.arange(64.0) - 32
    gy, gx = torch.meshgrid(offsets, offsets, indexing="ij")
    points = torch.stack([gx, gy], -1).reshape(-1, 2)
    for i in (0, 1234, 9316):
        src = torch.floor(points @ torch.linalg.inv(matrices[i]).float().T + com + 0.5).long()
        inside = (src >= 0).all(1) & (src < 32).all(1)
        ref = mask[src[:, 1].clamp(0, 31), src[:, 0].clamp(0, 31)] & inside
        assert torch.equal(templates[i].flatten().bool(), ref)


def test_cosine_scores() -> None:
    templates = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    characters = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    raw = characters @ templates.T
    assert raw[0].tolist() == [2.0, 2.0]  # raw correlation cannot tell the two apart
    normalized = cosine(raw, characters.sum(1)[:, None], templates.sum(1)[None, :])
    torch.testing.assert_close(normalized[0], torch.tensor([1.0, 2 / math.sqrt(8)]))
    assert normalized[1].eq(0).all()  # an empty character never matches


def test_template_matching_picks_the_transformed_target() -> None:
    target = torch.zeros(1, 3, 32, 32)
    target[0, 1, 6:26, 12:15] = 0.8
    target[0, 1, 22:25, 12:24] = 0.8
    imap = torch.zeros(1, 96, 96, dtype=torch.int64)
    imap[0, 60:90, 10:40] = 1  # a big blob
    imap[0, 5:15, 50:90] = 2  # a bar
    # glyph 3: the target shape scaled x2 in y (one of the grid's scales)
    imap[0, 20:60, 60:63] = 3
    imap[0, 52:58, 60:72] = 3
    chosen, centers = TemplateMatcher()(target, imap, 3)
    assert chosen.tolist() == [3]
    assert centers[0].tolist() == center_of_mass(imap == 3)[0].float().tolist()


def test_fast_search_is_the_full_convolution_restricted_to_small_shifts() -> None:
    grid = TemplateGrid(rotations=3, shears=1, scales=3)
    target = torch.zeros(3, 32, 32)
    target[:, 10:20, 14:16] = 1.0
    target[:, 18:20, 14:22] = 1.0
    imap = torch.zeros(96, 96, dtype=torch.int64)
    imap[20:40, 20:24] = 1  # the target's shape, taller
    imap[36:40, 20:36] = 1
    imap[60:70, 50:75] = 2  # a blob
    imap[60:64, 50:55] = 3  # a fragment of an occluded glyph
    for normalized in (True, False):
        everywhere = TemplateMatcher(grid, shift_radius=47, normalized=normalized)
        exhaustive = everywhere.exhaustive_scores(target, imap, 4)
        torch.testing.assert_close(everywhere.scores(target, imap, 4), exhaustive)
        near = TemplateMatcher(grid, shift_radius=1, normalized=normalized).scores(target, imap, 4)
        assert (near <= exhaustive + 1e-6).all() and near[3] == exhaustive[3] == -1  # invisible
    assert TemplateMatcher(grid).scores(target, imap, 4).argmax() == 0


# --------------------------------------------------------------------------- submissions


def load_submission(name: str):
    spec = importlib.util.spec_from_file_location(f"submission_{name}", SUBMISSIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_checkpoint(tmp_path: Path, model: str) -> Path:
    torch.manual_seed(0)
    net = create_model(model, "tiny", STATS)
    path = tmp_path / f"{model}.safetensors"
    info = CheckpointInfo(
        model=model, size="tiny", level=4, stage="test", step=0, total_steps=0, stats=STATS
    )
    save_checkpoint(path, net, info)
    return path


def random_batch(b: int = 2, level: int = 4):
    gen = torch.Generator().manual_seed(3)
    targets = torch.rand(b, 3, 32, 32, generator=gen)
    scenes = torch.rand(b, 3, 96, 96, generator=gen)
    imap = torch.zeros(b, 96, 96, dtype=torch.int64)
    for k in range(1, level + 1):
        imap[:, 10 * k : 10 * k + 12, 8 * k : 8 * k + 15] = k
    tables = [pd.DataFrame({"k": range(1, level + 1)}) for _ in range(b)]
    return targets, scenes, {"instance_map": imap, "instances": tables}


WRAPPERS = {
    "siamese_unet": "siamese_unet",
    "masknet": "masknet",
    "masknet_untargeted": "masknet_untargeted",
    "oracle_best_proposal": "masknet",
    "oracle_presegmented": "presegmented_discriminator",
    "oracle_cluttered": "cluttered_discriminator",
    "template_matching": None,
    "template_matching_raw": None,
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrappers_follow_predict_protocol_v1(
    wrapper: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = WRAPPERS[wrapper]
    if model is not None:
        monkeypatch.setenv("ONESHOTBENCH_CHECKPOINT", str(tiny_checkpoint(tmp_path, model)))
    module = load_submission(wrapper)
    assert module.PROTOCOL_VERSION == 1
    predict = module.make_predictor(torch.device("cpu"))
    if model is not None:  # the record names the size of the network that was loaded
        assert count_parameters(create_model(model, "tiny")) == module.PARAMETERS
    targets, scenes, oracle = random_batch()
    fields = getattr(module, "ORACLE_FIELDS", None)
    n_args = len(inspect.signature(predict).parameters)
    if fields is None:
        assert n_args == 2  # no path for oracle data into a non-oracle submission
        out = predict(targets, scenes)
    else:
        assert set(fields) <= {"instance_map", "instances"} and n_args == 3
        out = predict(targets, scenes, {f: oracle[f] for f in fields})
    probs, locations = out if isinstance(out, tuple) else (out, None)
    assert probs.shape == (2, 96, 96)
    if probs.dtype != torch.bool:
        assert probs.is_floating_point() and probs.min() >= 0 and probs.max() <= 1
    if locations is not None:
        assert locations.shape == (2, 2) and locations.is_floating_point()
    if fields is not None and wrapper != "oracle_best_proposal":
        # oracles answer with the ground-truth mask of the glyph they chose
        chosen = [int(oracle["instance_map"][i][probs[i]].unique().item()) for i in range(2)]
        assert all(1 <= k <= 4 for k in chosen)


def test_wrapper_without_checkpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from oneshotbench.errors import OneshotbenchError

    monkeypatch.delenv("ONESHOTBENCH_CHECKPOINT", raising=False)
    with pytest.raises(OneshotbenchError, match="ONESHOTBENCH_CHECKPOINT"):
        load_submission("siamese_unet").make_predictor(torch.device("cpu"))

from oneshotbench.cli.main import main

main()

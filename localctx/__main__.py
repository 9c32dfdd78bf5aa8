from localctx.cli.app import main

main()

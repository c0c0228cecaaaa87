from trade.cli import main

main()

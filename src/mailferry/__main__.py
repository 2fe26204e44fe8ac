from mailferry.cli import main

main()

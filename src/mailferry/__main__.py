from mailferry.cli import console

console()

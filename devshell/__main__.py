from devshell.cli import main

main()

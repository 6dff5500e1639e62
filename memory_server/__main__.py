from memory_server.cli import main

main()

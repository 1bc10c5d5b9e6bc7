from raxx.cli import main

main()

from raxx.cli import main

# Guarded: `raxx audit verify` starts worker processes, which import this module again.
if __name__ == "__main__":
    main()

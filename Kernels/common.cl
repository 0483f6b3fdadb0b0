// common kernels: see docs/ARCHITECTURE.md

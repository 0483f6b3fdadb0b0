// movement kernels: see docs/ARCHITECTURE.md

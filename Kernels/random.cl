// random kernels: see docs/ARCHITECTURE.md

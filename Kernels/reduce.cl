// reduce kernels: see docs/ARCHITECTURE.md

// matmul kernels: see docs/ARCHITECTURE.md

// elementwise kernels: see docs/ARCHITECTURE.md

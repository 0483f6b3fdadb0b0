import Foundation

/// The OpenCL GEMM kernels (`Kernels/matmul.cl`), from least to most work per work-group.
enum OpenCLGEMMKernel: Sendable, Equatable {
    /// One work-item per output: products with a side under 16 (vmap's per-example dots,
    /// matrix-vector and outer products), where a tile would idle most of its work-items.
    case naive
    /// One output column from a row-major A (a matrix-vector product): a 64-item
    /// work-group per row, reading the row coalesced.
    case rowDot
    /// 32×32 tiles, 2×2 outputs per work-item.
    case tile32
    /// 64×64 tiles, 4×4 outputs per work-item.
    case tile64
    /// 128×128 tiles, 8×8 outputs per work-item read as 4-wide vectors from local memory
    /// (four times the arithmetic per local read of `tile64`, a quarter of the work-groups).
    case tile128
}

/// Which tiled GEMM kernel the OpenCL backend runs.
enum OpenCLGEMMTiles: Sendable, Equatable {
    /// 128×128 tiles when the product has at least one whole tile per compute unit, or
    /// will have once split along k (fewer would leave compute units idle), 64×64
    /// otherwise. On PoCL the 128×128 kernel doubled W2 (13 → 23 GFLOP/s), on the H200 it
    /// ran W2 at 28 TFLOP/s against 17.5 (64) and 9.8 (32) (docs/PERFORMANCE.md).
    case automatic
    /// `ADJOINT_OPENCL_GEMM=32`: 32×32 tiles for every tiled product.
    case forced32
    /// `ADJOINT_OPENCL_GEMM=64`: 64×64 tiles for every tiled product.
    case forced64
    /// `ADJOINT_OPENCL_GEMM=128`: 128×128 tiles for every product with both sides of at
    /// least 128 (64×64 below that).
    case forced128

    /// `ADJOINT_OPENCL_GEMM`, read once for both choices it makes: the tiles here, and
    /// whether CLBlast runs (`CLBlast.Use`).
    static let environmentSetting = ProcessInfo.processInfo.environment["ADJOINT_OPENCL_GEMM"]

    /// `ADJOINT_OPENCL_GEMM=32|64|128` forces a kernel (for measuring each on a device).
    static let fromEnvironment: OpenCLGEMMTiles = {
        switch environmentSetting {
        case "32": return .forced32
        case "64": return .forced64
        case "128": return .forced128
        default: return .automatic
        }
    }()

    /// The kernel for an `m×n×k` product run `batch` times on a device with
    /// `computeUnits`. `rowDot`: whether matrix-vector products with a row-major A (`A`'s
    /// rows contiguous: `rowMajorA`) use the work-group-per-row kernel, which GPUs need
    /// for coalesced reads; on PoCL the one-item-per-row kernel is faster (W5's HVP 0.55
    /// against 0.70 ms), so the backend asks for it on GPUs only.
    func kernel(m: Int, n: Int, k: Int = 0, batch: Int, computeUnits: Int, rowMajorA: Bool = false, rowDot: Bool = false) -> OpenCLGEMMKernel {
        if rowDot && n == 1 && rowMajorA && k >= 64 { return .rowDot }
        guard m >= 16 && n >= 16 else { return .naive }
        let fits128 = m >= 128 && n >= 128
        switch self {
        case .forced32: return .tile32
        case .forced64: return .tile64
        case .forced128: return fits128 ? .tile128 : .tile64
        case .automatic:
            guard fits128 else { return .tile64 }
            // 128×128 tiles when they (or, unbatched, their k-slices) fill the compute
            // units: on the H200 they reach 28 TFLOP/s against 17.5 for 64×64.
            let tiles = (m / 128) * (n / 128) * batch
            if tiles >= computeUnits { return .tile128 }
            if batch == 1 && tiles * OpenCLGEMMTiles.kSlices(.tile128, m: m, n: n, k: k, computeUnits: computeUnits) >= computeUnits { return .tile128 }
            return .tile64
        }
    }

    /// Into how many slices of `k` a single (unbatched) product with few outputs runs: the
    /// smallest power of two (at most 256) that gives the device enough work — two tiles
    /// per compute unit, or 1,024 work-items per compute unit for the one-item-per-output
    /// kernel — keeping each slice 128 deep (64 for the naive kernel): shallower slices
    /// cost a launch and a partial sum for work that was already short.
    /// 1 for the row-dot kernel, whose work-groups already split `k`.
    static func kSlices(_ kernel: OpenCLGEMMKernel, m: Int, n: Int, k: Int, computeUnits: Int) -> Int {
        let groups: Int, target: Int, shallowest: Int
        func tiles(_ size: Int) -> Int { ((m + size - 1) / size) * ((n + size - 1) / size) }
        switch kernel {
        case .rowDot: return 1
        case .naive: (groups, target, shallowest) = (m * n, computeUnits * 1024, 64)
        case .tile32: (groups, target, shallowest) = (tiles(32), computeUnits * 2, 128)
        case .tile64: (groups, target, shallowest) = (tiles(64), computeUnits * 2, 128)
        case .tile128: (groups, target, shallowest) = (tiles(128), computeUnits * 2, 128)
        }
        var slices = 1
        while groups * slices < target && k / (slices * 2) >= shallowest && slices < 256 { slices *= 2 }
        return slices
    }
}

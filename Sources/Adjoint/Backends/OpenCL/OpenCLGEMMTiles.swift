import Foundation

/// Which tiled GEMM kernel the OpenCL backend runs for products with both sides of at
/// least 128 (`Kernels/matmul.cl`): 64×64 tiles with 4×4 per work-item, or 128×128 tiles
/// with 8×8 per work-item (four times the arithmetic per local-memory read, but a
/// quarter as many work-groups).
enum OpenCLGEMMTiles: Sendable, Equatable {
    /// 128×128 tiles when the product has at least one whole tile per compute unit (fewer
    /// would leave SMs idle), 64×64 otherwise. On PoCL the 128×128 kernel doubled W2
    /// (13 → 23 GFLOP/s, docs/PERFORMANCE.md); the GPU numbers come from the GPU session.
    case automatic
    /// Always 64×64 tiles.
    case small
    /// 128×128 tiles for every product with both sides of at least 128.
    case large

    /// `ADJOINT_OPENCL_GEMM=64` or `=128` forces a kernel (for measuring both on a device).
    static let fromEnvironment: OpenCLGEMMTiles = {
        switch ProcessInfo.processInfo.environment["ADJOINT_OPENCL_GEMM"] {
        case "64": return .small
        case "128": return .large
        default: return .automatic
        }
    }()

    /// Whether an `m×n` product, `batch` times, runs the 128×128 kernel.
    func usesLarge(m: Int, n: Int, batch: Int, computeUnits: Int) -> Bool {
        guard m >= 128 && n >= 128 else { return false }
        switch self {
        case .small: return false
        case .large: return true
        case .automatic: return (m / 128) * (n / 128) * batch >= computeUnits
        }
    }
}

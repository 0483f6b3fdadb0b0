/// The OpenCL C sources of Adjoint's primitives, embedded at build time.
///
/// Each family lives in `Kernels/<family>.cl`; `common.cl` is prepended to every program.
public enum KernelSources {
    /// Helpers shared by every program (index arithmetic, Philox).
    public static var common: String { String(decoding: PackageResources.common_cl, as: UTF8.self) }
    /// Unary, binary, select, cast, copy and fill kernels.
    public static var elementwise: String { String(decoding: PackageResources.elementwise_cl, as: UTF8.self) }
    /// Reductions over the middle axis of `[outer, length, inner]`.
    public static var reduce: String { String(decoding: PackageResources.reduce_cl, as: UTF8.self) }
    /// Gather and scatter-add.
    public static var movement: String { String(decoding: PackageResources.movement_cl, as: UTF8.self) }
    /// Batched GEMM.
    public static var matmul: String { String(decoding: PackageResources.matmul_cl, as: UTF8.self) }
    /// Counter-based random numbers (Philox-4x32-10).
    public static var random: String { String(decoding: PackageResources.random_cl, as: UTF8.self) }
}

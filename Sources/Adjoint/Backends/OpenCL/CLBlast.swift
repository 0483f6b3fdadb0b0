import COpenCL
import Foundation

/// CLBlast (Debian's `libclblast1`), loaded at run time when present: the tuned OpenCL
/// BLAS that ../shared/BENCHMARKS.md measured at 32.8 TFLOP/s on the H100, where
/// Adjoint's 128×128 kernel reaches 28.1 on the H200 (same SMs and clocks); on PoCL here
/// 35 against 23 GFLOP/s. Adjoint neither links nor requires it: large products run
/// through its strided-batched GEMM when it loads, everything else through Adjoint's
/// kernels (docs/PERFORMANCE.md).
enum CLBlast {
    /// Which products CLBlast runs.
    enum Use: Sendable, Equatable {
        /// None (`ADJOINT_OPENCL_GEMM=32|64|128|ours`: measuring Adjoint's kernels).
        case never
        /// Products of at least 2048³ multiply-adds (the default): the sizes where it
        /// measured faster (n = 8192 on the H100); smaller ones, W3's included, keep the
        /// kernels measured on the H200, where CLBlast's padding and transposing kernels
        /// would add launches to launch-bound steps.
        case large
        /// Every product with both sides of 16 or more (`ADJOINT_OPENCL_GEMM=clblast`).
        case always

        /// `ADJOINT_OPENCL_GEMM`: `clblast` for every product, `ours` or a forced tile size
        /// for none, else large products.
        static let fromEnvironment: Use = {
            switch OpenCLGEMMTiles.environmentSetting {
            case "clblast": return .always
            case "ours": return .never
            default: return OpenCLGEMMTiles.fromEnvironment == .automatic ? .large : .never
            }
        }()

        /// Whether an `m×n×k` product runs through CLBlast.
        func runs(m: Int, n: Int, k: Int) -> Bool {
            switch self {
            case .never: return false
            case .large: return m >= 16 && n >= 16 && m * n * k >= 1 << 33
            case .always: return m >= 16 && n >= 16
            }
        }
    }

    /// `CLBlastSgemmStridedBatched`.
    typealias SGEMM = @convention(c) (
        Int32, Int32, Int32, Int, Int, Int, Float,
        cl_mem?, Int, Int, Int, cl_mem?, Int, Int, Int, Float,
        cl_mem?, Int, Int, Int, Int,
        UnsafeMutablePointer<cl_command_queue?>?, UnsafeMutablePointer<cl_event?>?
    ) -> Int32
    /// `CLBlastDgemmStridedBatched`.
    typealias DGEMM = @convention(c) (
        Int32, Int32, Int32, Int, Int, Int, Double,
        cl_mem?, Int, Int, Int, cl_mem?, Int, Int, Int, Double,
        cl_mem?, Int, Int, Int, Int,
        UnsafeMutablePointer<cl_command_queue?>?, UnsafeMutablePointer<cl_event?>?
    ) -> Int32

    /// The library's two entry points.
    struct Library: @unchecked Sendable {
        let sgemm: SGEMM
        let dgemm: DGEMM
    }

    /// The loaded library, or nil when no `libclblast.so.1` is on the loader's path.
    static let library: Library? = {
        for name in ["libclblast.so.1", "libclblast.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let s = dlsym(handle, "CLBlastSgemmStridedBatched"), let d = dlsym(handle, "CLBlastDgemmStridedBatched") else { continue }
            return Library(sgemm: unsafeBitCast(s, to: SGEMM.self), dgemm: unsafeBitCast(d, to: DGEMM.self))
        }
        return nil
    }()

    /// CLBlast's enums (clblast_c.h).
    static let rowMajor: Int32 = 101, noTranspose: Int32 = 111, transpose: Int32 = 112

    /// How CLBlast reads a row-major `rows × columns` operand with these strides: as is
    /// (unit column stride) or transposed (unit row stride), with its leading dimension;
    /// nil for a layout neither describes (then Adjoint's kernel runs).
    static func operand(rows: Int, columns: Int, rowStride: Int, columnStride: Int) -> (transpose: Int32, leading: Int)? {
        if columnStride == 1 || columns == 1, rowStride >= columns || rows == 1 {
            return (noTranspose, Swift.max(rowStride, columns, 1))
        }
        if rowStride == 1 || rows == 1, columnStride >= rows || columns == 1 {
            return (transpose, Swift.max(columnStride, rows, 1))
        }
        return nil
    }
}

extension OpenCLBackend {
    /// Enqueues `C[b] = A[b] · B[b]` through CLBlast (lock held); false when this product's
    /// layout or dtype is not one CLBlast takes, or the call failed (then the caller runs
    /// Adjoint's kernel, and `ADJOINT_LOG=1` says why).
    func clblastGEMM(_ o: GEMMOperands, dtype: DType, batch: Int, m: Int, n: Int, k: Int) -> Bool {
        guard let library = CLBlast.library, dtype == .float32 || dtype == .float64,
              let a = CLBlast.operand(rows: m, columns: k, rowStride: o.sam, columnStride: o.sak),
              let b = CLBlast.operand(rows: k, columns: n, rowStride: o.sbk, columnStride: o.sbn) else { return false }
        var queue: cl_command_queue? = self.queue
        var event: cl_event?
        let status = withUnsafeMutablePointer(to: &event) { eventSlot -> Int32 in
            let eventPointer = profiling ? eventSlot : nil
            return dtype == .float32
                ? library.sgemm(CLBlast.rowMajor, a.transpose, b.transpose, m, n, k, 1, o.a, o.ao, a.leading, o.sab, o.b, o.bo, b.leading, o.sbb, 0, o.c, o.co, n, m * n, batch, &queue, eventPointer)
                : library.dgemm(CLBlast.rowMajor, a.transpose, b.transpose, m, n, k, 1, o.a, o.ao, a.leading, o.sab, o.b, o.bo, b.leading, o.sbb, 0, o.c, o.co, n, m * n, batch, &queue, eventPointer)
        }
        guard status == 0 else {
            if ProcessInfo.processInfo.environment["ADJOINT_LOG"] == "1" {
                print("adjoint: CLBlast GEMM \(batch)×\(m)×\(n)×\(k) returned \(status); Adjoint's kernel runs instead")
            }
            return false
        }
        if let event { keep(event, named: "clblast_gemm_\(dtype.kernelName)") }
        countLaunch()
        return true
    }
}

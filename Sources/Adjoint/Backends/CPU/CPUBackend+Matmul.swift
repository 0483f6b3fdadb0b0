import CBLAS
import CGEMM
import Foundation

/// How one operand's matrices sit in memory, in BLAS terms.
private struct MatrixOperand {
    var transposed: Bool
    var leadingDimension: Int

    /// The BLAS description of a `rows x columns` matrix stepping by `rowStride` and
    /// `columnStride`, or nil when it is neither row- nor column-major dense (a stride-0
    /// broadcast inside the matrix, say). Strides of length-1 axes do not matter.
    init?(rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
        if (columnStride == 1 || columns <= 1) && (rows <= 1 || rowStride >= Swift.max(1, columns)) {
            transposed = false
            leadingDimension = rows <= 1 ? Swift.max(1, columns) : rowStride
        } else if (rowStride == 1 || rows <= 1) && (columns <= 1 || columnStride >= Swift.max(1, rows)) {
            transposed = true
            leadingDimension = columns <= 1 ? Swift.max(1, rows) : columnStride
        } else {
            return nil
        }
    }

    var blasTranspose: CBLAS_TRANSPOSE { transposed ? CblasTrans : CblasNoTrans }
}

/// A GEMM with one output column or row, as the GEMV BLAS runs it: OpenBLAS's GEMM path
/// packs the whole matrix first (copying 16 MB for W4's 4096×1024 · θ, most of its time).
struct MatrixVectorProduct {
    let transpose: CBLAS_TRANSPOSE
    let rows: Int, columns: Int, leadingDimension: Int
    let matrixIsA: Bool
    let vectorStride: Int, outputStride: Int

    /// `C = A·b` when n = 1 (A is the matrix), `c = a·B` when m = 1 (Bᵀ is); nil otherwise.
    init?(transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
        guard k > 1 else { return nil }
        if n == 1 && m > 1 {
            // A is m×k: row-major with lda, or stored k×m (transposed) with lda.
            matrixIsA = true
            transpose = transposeA
            (rows, columns, leadingDimension) = transposeA == CblasNoTrans ? (m, k, lda) : (k, m, lda)
            vectorStride = transposeB == CblasNoTrans ? ldb : 1
            outputStride = ldc
        } else if m == 1 && n > 1 {
            // cᵀ = Bᵀ·aᵀ; B is k×n row-major (use it transposed) or stored n×k.
            matrixIsA = false
            transpose = transposeB == CblasNoTrans ? CblasTrans : CblasNoTrans
            (rows, columns, leadingDimension) = transposeB == CblasNoTrans ? (k, n, ldb) : (n, k, ldb)
            vectorStride = transposeA == CblasNoTrans ? 1 : lda
            outputStride = 1
        } else {
            return nil
        }
    }

    // swiftlint:disable:next function_parameter_count
    typealias GEMV<T> = (CBLAS_ORDER, CBLAS_TRANSPOSE, blasint, blasint, T, UnsafePointer<T>?, blasint,
                         UnsafePointer<T>?, blasint, T, UnsafeMutablePointer<T>?, blasint) -> Void

    func run<T: CPUGEMMScalar>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ c: UnsafeMutablePointer<T>, _ gemv: GEMV<T>) {
        gemv(CblasRowMajor, transpose, blasint(rows), blasint(columns), 1, matrixIsA ? a : b, blasint(leadingDimension),
             matrixIsA ? b : a, blasint(vectorStride), 0, c, blasint(outputStride))
    }
}

/// One GEMM entry point per precision.
protocol CPUGEMMScalar: CPUFloatingPoint {
    // swiftlint:disable:next function_parameter_count
    static func gemm(
        transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int,
        a: UnsafeMutablePointer<Self>, lda: Int, b: UnsafeMutablePointer<Self>, ldb: Int,
        c: UnsafeMutablePointer<Self>, ldc: Int)
    /// The BLAS GEMV of this precision.
    static var gemv: MatrixVectorProduct.GEMV<Self> { get }
}

extension CPUGEMMScalar {
    /// One product: BLAS GEMV when it has a single output row or column, else `gemm`.
    // swiftlint:disable:next function_parameter_count
    static func product(
        transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int,
        a: UnsafeMutablePointer<Self>, lda: Int, b: UnsafeMutablePointer<Self>, ldb: Int,
        c: UnsafeMutablePointer<Self>, ldc: Int
    ) {
        if let product = MatrixVectorProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc) {
            product.run(a, b, c, gemv)
        } else {
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
    }
}

/// Which float32 GEMM the CPU backend runs.
enum CPUFloat32GEMM: Sendable {
    /// Adjoint's packed AVX-512 kernel (Sources/CGEMM), for products large enough to pay
    /// for its packing; smaller ones still go to OpenBLAS.
    case adjoint
    /// OpenBLAS for every product.
    case openBLAS

    /// `ADJOINT_CPU_GEMM=openblas` opts out; otherwise the AVX-512 kernel where the CPU
    /// has it. OpenBLAS fixes its own kernel at load time from OPENBLAS_CORETYPE, which
    /// some machine images pin to an AVX2 core (half the FMA width of an AVX-512 CPU).
    static let selected: CPUFloat32GEMM = {
        if ProcessInfo.processInfo.environment["ADJOINT_CPU_GEMM"]?.lowercased() == "openblas" { return .openBLAS }
        return adjoint_sgemm_available() ? .adjoint : .openBLAS
    }()

    /// Whether the AVX-512 kernel takes an `m x n x k` product: below about 2^18
    /// multiply-adds, or with fewer than 8 rows or 32 columns, packing costs more than
    /// OpenBLAS's unpacked small-matrix paths (measured in docs/PERFORMANCE.md).
    @inline(__always)
    func takes(m: Int, n: Int, k: Int) -> Bool {
        self == .adjoint && m >= 8 && n >= 32 && m * n * k >= 1 << 18
    }
}

extension Float: CPUGEMMScalar {
    static var gemv: MatrixVectorProduct.GEMV<Float> { cblas_sgemv }

    static func gemm(
        transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int,
        a: UnsafeMutablePointer<Float>, lda: Int, b: UnsafeMutablePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if CPUFloat32GEMM.selected.takes(m: m, n: n, k: k),
           adjoint_sgemm(transposeA == CblasTrans, transposeB == CblasTrans, m, n, k, a, lda, b, ldb, c, ldc) {
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA, transposeB, blasint(m), blasint(n), blasint(k),
            1, a, blasint(lda), b, blasint(ldb), 0, c, blasint(ldc))
    }
}

extension Double: CPUGEMMScalar {
    static var gemv: MatrixVectorProduct.GEMV<Double> { cblas_dgemv }

    static func gemm(
        transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int,
        a: UnsafeMutablePointer<Double>, lda: Int, b: UnsafeMutablePointer<Double>, ldb: Int,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transposeA, transposeB, blasint(m), blasint(n), blasint(k),
            1, a, blasint(lda), b, blasint(ldb), 0, c, blasint(ldc))
    }
}

extension CPUBackend {
    /// OpenBLAS runs single-threaded and Adjoint splits large GEMMs across cores itself:
    /// OpenBLAS's own pool busy-waits after each call and starves the elementwise work
    /// that follows (measured: W3 step 12.8 ms with its pool, 10.2 ms with it sleeping).
    /// Its threads, started when the library loaded, are also shut down where the build
    /// exports `blas_thread_shutdown_` (Debian's pthreads OpenBLAS 0.3.21 does): one kept
    /// calling `sched_yield` through a whole benchmark, a quarter of the samples, and cost
    /// the main job's MLP step half its time once Adjoint's own workers spin too
    /// (`OPENBLAS_NUM_THREADS=1`, which stops them being started, measured the same).
    static func configureBLASThreads() {
        openblas_set_num_threads(1)
        // The process's global symbols (the linked OpenBLAS among them).
        if let process = dlopen(nil, RTLD_NOW), let shutdown = dlsym(process, "blas_thread_shutdown_") {
            _ = unsafeBitCast(shutdown, to: (@convention(c) () -> Int32).self)()
        }
    }

    /// `C = A·B` for one matrix, split into column (or row) blocks across cores when the
    /// product is large enough to pay for it.
    @inline(__always)
    static func splitGEMM<T: CPUGEMMScalar>(
        transposeA: CBLAS_TRANSPOSE, transposeB: CBLAS_TRANSPOSE, m: Int, n: Int, k: Int,
        a: UnsafeMutablePointer<T>, lda: Int, b: UnsafeMutablePointer<T>, ldb: Int,
        c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        let threads = CPUParallel.threadCount
        let work = Double(m) * Double(n) * Double(k)
        guard threads > 1, work >= 2_000_000, Swift.max(m, n) >= 64 else {
            T.product(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            return
        }
        let splitColumns = n >= m
        let extent = splitColumns ? n : m
        let parts = Swift.min(threads, extent / 32)
        CPUParallel.perform(iterations: parts) { part in
            let start = extent * part / parts, end = extent * (part + 1) / parts
            if splitColumns {
                let bOffset = transposeB == CblasNoTrans ? start : start * ldb
                T.product(transposeA: transposeA, transposeB: transposeB, m: m, n: end - start, k: k,
                       a: a, lda: lda, b: b + bOffset, ldb: ldb, c: c + start, ldc: ldc)
            } else {
                let aOffset = transposeA == CblasNoTrans ? start * lda : start
                T.product(transposeA: transposeA, transposeB: transposeB, m: end - start, n: n, k: k,
                       a: a + aOffset, lda: lda, b: b, ldb: ldb, c: c + start * ldc, ldc: ldc)
            }
        }
    }

    func runMatmul(left: BufferView, right: BufferView, output: BufferView) throws {
        precondition(left.layout.rank == 3 && right.layout.rank == 3, "CPU matmul: operands must be rank 3, got \(left.layout.shape) and \(right.layout.shape)")
        precondition(left.dtype == right.dtype, "CPU matmul: dtypes \(left.dtype) and \(right.dtype) differ")
        switch left.dtype {
        case .float32: CPUBackend.matmul(Float.self, left, right, output)
        case .float64: CPUBackend.matmul(Double.self, left, right, output)
        default: throw CPUBackend.unsupported(.matmul, left.dtype, right.dtype)
        }
    }

    private static func matmul<T: CPUGEMMScalar>(_ type: T.Type, _ left: BufferView, _ right: BufferView, _ output: BufferView) {
        let batch = left.layout.shape[0], m = left.layout.shape[1], k = left.layout.shape[2]
        let n = right.layout.shape[2]
        precondition(
            right.layout.shape[0] == batch && right.layout.shape[1] == k,
            "CPU matmul: shapes \(left.layout.shape) and \(right.layout.shape) do not chain")
        let target = output.base(T.self)
        let outputCount = batch * m * n
        if outputCount == 0 { return }
        if k == 0 {
            target.update(repeating: 0, count: outputCount)
            return
        }
        var leftView = left
        var rightView = right
        // A matrix BLAS cannot describe (a broadcast row, an odd stride) is packed densely first.
        var packed: [DeviceBuffer] = []
        let leftStrides = left.layout.strides, rightStrides = right.layout.strides
        var leftMatrix = MatrixOperand(rows: m, columns: k, rowStride: leftStrides[1], columnStride: leftStrides[2])
        if leftMatrix == nil {
            leftView = pack(left, T.self, into: &packed)
            leftMatrix = MatrixOperand(rows: m, columns: k, rowStride: k, columnStride: 1)
        }
        var rightMatrix = MatrixOperand(rows: k, columns: n, rowStride: rightStrides[1], columnStride: rightStrides[2])
        if rightMatrix == nil {
            rightView = pack(right, T.self, into: &packed)
            rightMatrix = MatrixOperand(rows: k, columns: n, rowStride: n, columnStride: 1)
        }
        guard let leftMatrix, let rightMatrix else { return }
        let a = leftView.base(T.self), b = rightView.base(T.self)
        let leftBatchStride = leftView.layout.strides[0], rightBatchStride = rightView.layout.strides[0]

        // A dense row-major A against one shared B is a single [batch*m, k] x [k, n] GEMM.
        let leftFolds = !leftMatrix.transposed
            && (m == 1 ? leftBatchStride >= Swift.max(1, k) : leftBatchStride == m * leftMatrix.leadingDimension)
        if batch > 1 && (rightBatchStride == 0) && leftFolds {
            splitGEMM(
                transposeA: CblasNoTrans, transposeB: rightMatrix.blasTranspose, m: batch * m, n: n, k: k,
                a: a, lda: m == 1 ? leftBatchStride : leftMatrix.leadingDimension, b: b, ldb: rightMatrix.leadingDimension,
                c: target, ldc: n)
            withExtendedLifetime(packed) {}
            return
        }
        for index in 0..<batch {
            splitGEMM(
                transposeA: leftMatrix.blasTranspose, transposeB: rightMatrix.blasTranspose, m: m, n: n, k: k,
                a: a + index * leftBatchStride, lda: leftMatrix.leadingDimension,
                b: b + index * rightBatchStride, ldb: rightMatrix.leadingDimension,
                c: target + index * m * n, ldc: n)
        }
        withExtendedLifetime(packed) {}
    }

    /// A dense copy of `view` (row-major, batch included) in a fresh pool buffer.
    private static func pack<T>(_ view: BufferView, _ type: T.Type, into keep: inout [DeviceBuffer]) -> BufferView {
        let count = view.layout.count
        let buffer = cpuPackingPool.makeBuffer(byteCount: count * MemoryLayout<T>.stride)!
        keep.append(buffer)
        let dense = BufferView(buffer: buffer, layout: Layout(contiguous: view.layout.shape), dtype: view.dtype)
        switch MemoryLayout<T>.stride {
        case 4: mapViews(view, UInt32.self, dense, UInt32.self) { $0 }
        default: mapViews(view, UInt64.self, dense, UInt64.self) { $0 }
        }
        return dense
    }
}

/// Scratch memory for packing matmul operands (kept out of the user-visible ledger).
private let cpuPackingPool = CPUBufferPool(capacityBytes: 256 << 20)

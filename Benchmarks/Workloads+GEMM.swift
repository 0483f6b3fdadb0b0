import Adjoint
import CBLAS
import CGEMM
import Foundation

extension Workloads {
    /// The CPU float32 GEMM kernels side by side, one thread each, on W2's size and the
    /// W3 step's products (`adjoint-bench GEMM`): Adjoint's AVX-512 kernel against the
    /// OpenBLAS kernel this process loaded (its core name is in each line). Results are
    /// checked against each other before timing.
    func gemmKernels() throws {
        guard adjoint_sgemm_available() else {
            harness.emit(workload: "GEMM", impl: "adjoint-avx512", size: NSNull(), extra: ["skipped": "no AVX-512F on this CPU"])
            return
        }
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        // (m, n, k, transposeA, transposeB): W2, W3's forward, its dX (B transposed) and
        // dW (A transposed), the main job's MLP first layer forward and dW (half of one
        // core's share when two split its columns), and a small odd product under the
        // kernel's size floor.
        let shapes: [(Int, Int, Int, Bool, Bool)] = [
            (1024, 1024, 1024, false, false), (128, 1024, 784, false, false), (128, 1024, 1024, false, true),
            (784, 1024, 128, true, false), (128, 256, 784, false, false), (128, 128, 784, false, false), (784, 256, 128, true, false),
            (9, 49, 257, false, true),
        ]
        for (m, n, k, transposeA, transposeB) in shapes {
            var sampler = InputSampler(seed: UInt64(m * n + k))
            let a = sampler.values(m * k, domain: .unit).map { Float($0) }, b = sampler.values(k * n, domain: .unit).map { Float($0) }
            var ours = [Float](repeating: 0, count: m * n), theirs = ours
            let lda = transposeA ? m : k, ldb = transposeB ? k : n
            let runOurs = {
                _ = a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        ours.withUnsafeMutableBufferPointer { c in
                            adjoint_sgemm(transposeA, transposeB, m, n, k, a.baseAddress, lda, b.baseAddress, ldb, c.baseAddress, n)
                        }
                    }
                }
            }
            let runTheirs = {
                cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            blasint(m), blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb), 0, &theirs, blasint(n))
            }
            runOurs()
            runTheirs()
            try requireClose(ours.map(Double.init), theirs.map(Double.init), tolerance: 1e-4, "GEMM \(m)x\(n)x\(k) (AVX-512 kernel vs OpenBLAS)")
            let flops = 2 * Double(m * n * k)
            let size: [Any] = [m, n, k, transposeA ? "At" : "A", transposeB ? "Bt" : "B"]
            for (impl, body) in [("adjoint-avx512-1thread", runOurs), ("openblas-\(core)-1thread", runTheirs)] {
                let (median, min) = try harness.time(body)
                harness.emit(workload: "GEMM", impl: impl, size: size, median: median, min: min,
                             extra: ["gflops": (flops / (median * 1e-3) / 1e9).rounded()])
            }
        }
    }
}

import AdjointTestSupport
import CGEMM
import Testing
@testable import Adjoint

/// Adjoint's AVX-512 float32 GEMM (Sources/CGEMM) against a float64 triple loop, on the
/// shapes that exercise its blocking: partial register tiles in both directions, depths
/// that split into several packed blocks and end mid 16-step, more rows than one packed
/// A block, more columns than one packed B block, padded leading dimensions, and every
/// transposition.
@Suite(.enabled(if: adjoint_sgemm_available(), "this CPU has no AVX-512F; float32 GEMM runs on OpenBLAS"))
struct CPUGEMMTests {
    /// Seeded values in [-0.9, 0.9].
    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var data = TestData(seed: seed)
        return data.values(count, domain: .unit).map { Float($0) }
    }

    @Test(arguments: [
        (1, 1, 1), (7, 47, 15), (8, 48, 16), (9, 49, 17), (13, 100, 600), (140, 97, 300),
        (300, 64, 40), (9, 3100, 20), (64, 64, 1024),
    ])
    func matchesAFloat64TripleLoopForEveryTransposition(m: Int, n: Int, k: Int) {
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let lda = (transposeA ? m : k) + 3, ldb = (transposeB ? k : n) + 1, ldc = n + 2
                let a = values((transposeA ? k : m) * lda, seed: 1), b = values((transposeB ? n : k) * ldb, seed: 2)
                let sentinel: Float = 12345
                var c = [Float](repeating: sentinel, count: m * ldc)
                let ran = a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            adjoint_sgemm(transposeA, transposeB, m, n, k, a.baseAddress, lda, b.baseAddress, ldb, c.baseAddress, ldc)
                        }
                    }
                }
                #expect(ran)
                let expected = naiveMatmul(a.map(Double.init), [0] + (transposeA ? [1, lda] : [lda, 1]),
                                           b.map(Double.init), [0] + (transposeB ? [1, ldb] : [ldb, 1]), batch: 1, m: m, k: k, n: n)
                var worst = 0.0, paddingTouched = false
                for i in 0..<m {
                    for j in 0..<n { worst = max(worst, abs(Double(c[i * ldc + j]) - expected[i * n + j])) }
                    paddingTouched = paddingTouched || c[(i * ldc + n)..<(i * ldc + ldc)].contains { $0 != sentinel }
                }
                // float32 accumulation of k products of magnitude <= 1.
                #expect(worst <= 4e-7 * Double(k) + 1e-6, "\(m)x\(n)x\(k) transposeA \(transposeA) transposeB \(transposeB): error \(worst)")
                #expect(!paddingTouched, "\(m)x\(n)x\(k): wrote past n into the leading-dimension padding")
            }
        }
    }

    @Test func emptyDepthWritesZerosAndEmptyOutputsWriteNothing() {
        var c = [Float](repeating: 7, count: 6)
        #expect(c.withUnsafeMutableBufferPointer { adjoint_sgemm(false, false, 2, 2, 0, nil, 1, nil, 2, $0.baseAddress, 3) })
        #expect(c == [0, 0, 7, 0, 0, 7])
        #expect(c.withUnsafeMutableBufferPointer { adjoint_sgemm(false, false, 0, 2, 5, nil, 5, nil, 2, $0.baseAddress, 3) })
        #expect(c == [0, 0, 7, 0, 0, 7])
    }

    @Test func theCPUBackendRoutesLargeFloat32ProductsToIt() {
        #expect(CPUFloat32GEMM.selected == .adjoint || CPUFloat32GEMM.selected == .openBLAS)
        if CPUFloat32GEMM.selected == .adjoint {
            #expect(CPUFloat32GEMM.adjoint.takes(m: 128, n: 1024, k: 784))
            #expect(!CPUFloat32GEMM.adjoint.takes(m: 4, n: 1024, k: 1024), "fewer rows than a register tile")
            #expect(!CPUFloat32GEMM.adjoint.takes(m: 32, n: 32, k: 32), "too small to pay for packing")
        }
        #expect(!CPUFloat32GEMM.openBLAS.takes(m: 128, n: 1024, k: 784))
    }
}

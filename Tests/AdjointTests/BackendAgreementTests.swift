import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// CPU-vs-OpenCL agreement for every op in the registry (forward and every input's VJP,
/// float32, the registry's shapes: broadcasting and rank 0 included), and the OpenCL
/// program cache seen from a second process.
@Suite struct BackendAgreementTests {
    @Test(arguments: OpRegistry.all)
    func forwardAndBackwardAgreeBetweenCPUAndOpenCL(_ op: OpInfo) throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        var data = TestData(seed: 99 &+ UInt64(op.name.utf8.count))
        for comparison in try op.comparedWithCPU(on: openCL, sampler: &data) {
            expectClose(comparison.actual, comparison.expected, tolerance: 1e-4, "\(op.name) \(comparison.shapes): \(comparison.what)")
        }
    }

    @Test func primitivesAgreeOnLargeAndEmptyInputs() throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        let big = Tensor.randomNormal([300, 257], seed: 4, on: .cpu)
        let checks: [(String, (Tensor) -> Tensor)] = [
            ("sum rows", { $0.sum(axes: [1]) }), ("sum columns", { $0.sum(axes: [0]) }), ("max", { $0.max(axes: [1]) }),
            ("argmax", { $0.argmax(axis: 0).cast(to: .float32) }), ("softmax", { $0.softmax(axis: 0) }),
            ("matmul", { $0.matmul($0.transposed()) }), ("strided", { $0[.stride(1, nil, by: 3), .stride(0, nil, by: 2)].exp() }),
            ("empty", { $0[0..<0].sum(axes: [0]) }),
        ]
        for (name, function) in checks {
            expectClose(try function(big.to(openCL)).doubles(), try function(big).doubles(), tolerance: 1e-4, name)
        }
    }

    /// Few very long rows take the two-pass (partials) reduction on OpenCL.
    @Test func longRowReductionsAgree() throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        for shape in [[3 * (1 << 17) + 5], [3, 70_001]] {
            let x = Tensor.randomUniform(shape, low: -1, high: 2, seed: 8, on: .cpu)
            let axes = [shape.count - 1]
            expectClose(try x.to(openCL).sum(axes: axes).doubles(), try x.sum(axes: axes).doubles(), tolerance: 1e-5, "sum \(shape)")
            #expect(try x.to(openCL).max(axes: axes).doubles() == x.max(axes: axes).doubles(), "max \(shape)")
            #expect(try x.to(openCL).min(axes: axes).doubles() == x.min(axes: axes).doubles(), "min \(shape)")
            #expect(try x.to(openCL).argmax(axis: -1).scalars(as: Int32.self) == x.argmax(axis: -1).scalars(as: Int32.self))
        }
        let ones = Tensor.ones([1 << 20], on: openCL)
        #expect(try ones.sum().item(as: Float.self) == Float(1 << 20))
    }

    /// A fresh process builds no OpenCL program: every family, and jit's generated fused
    /// kernel, comes from the disk cache that earlier runs (and this one) filled.
    @Test func secondProcessLoadsProgramBinariesFromTheCache() async throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        func touchEveryFamily(_ device: Device) throws {
            let x = Tensor.randomNormal([4, 4], seed: 1, on: device)
            _ = try (x.exp().sum(axes: [0]) + x.matmul(x).take(Tensor([1] as [Int32], on: device)).sum()).doubles()
            _ = try jit { (y: Tensor) in (y.exp() * 2 + 1).sum() }(x).doubles()
        }
        try touchEveryFamily(openCL)
        await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            let device = TestDevices.openCL!
            let x = Tensor.randomNormal([4, 4], seed: 1, on: device)
            _ = try (x.exp().sum(axes: [0]) + x.matmul(x).take(Tensor([1] as [Int32], on: device)).sum()).doubles()
            _ = try jit { (y: Tensor) in (y.exp() * 2 + 1).sum() }(x).doubles()
            let ledger = device.ledger
            if ledger.programsCompiled != 0 || ledger.programsLoadedFromCache == 0 {
                fatalError("second process compiled \(ledger.programsCompiled) programs and loaded \(ledger.programsLoadedFromCache) from the cache")
            }
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(!message.contains("Fatal error"), "\(message)")
        }
    }
}

@testable import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// jit: every registry op (forward and gradient) and the transform suite's functions
/// compiled against running them eagerly, composition with grad and vmap, the signature
/// cache, static arguments, the host-read error, and one test per pass; on every device.
@Suite struct JitTests {
    typealias Case = OpCase

    static var cases: [Case] { OpCase.all }

    static func inputs(_ op: OpInfo, _ shapes: [[Int]], device: Device, seed: UInt64 = 5) -> [Tensor] {
        var data = TestData(seed: seed &+ UInt64(op.name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        return shapes.map { Tensor(doubles: data.values($0.reduce(1, *), domain: op.domain), shape: $0, dtype: .float32, on: device) }
    }

    @Test(arguments: cases)
    func everyOpForwardAndGradientMatchEager(_ testCase: Case) throws {
        let op = testCase.op, device = testCase.device
        for shapes in op.shapes {
            let inputs = Self.inputs(op, shapes, device: device)
            let forward = jit(name: op.name) { (x: [Tensor]) in op.apply(x) }
            expectClose(forward(inputs), try op.apply(inputs).doubles(), tolerance: 1e-5, "\(op.name) \(shapes) on \(device)")
            let gradient = { (x: [Tensor]) in grad { (y: [Tensor]) in (op.apply(y) * op.apply(y)).sum() }(x) }
            let compiled = jit(name: "grad \(op.name)", gradient)
            let expected = gradient(inputs)
            let actual = compiled(inputs)
            for (a, e) in zip(actual, expected) {
                expectClose(a, try e.doubles(), tolerance: 1e-4, "grad \(op.name) \(shapes) on \(device)")
            }
            // A second call with new values replays the program.
            let others = Self.inputs(op, shapes, device: device, seed: 99)
            expectClose(forward(others), try op.apply(others).doubles(), tolerance: 1e-5, "\(op.name) replay on \(device)")
            #expect(forward.traceCount == 1 && forward.cacheHits == 1)
        }
    }

    static func mlpLoss(_ p: [Tensor]) -> Tensor {
        let hidden = (p[0].matmul(p[1]) + p[2]).tanh()
        return (hidden.matmul(p[3]).logSoftmax(axis: -1) * p[4]).sum() * -1
    }

    @Test(arguments: TestDevices.all)
    func transformsInsideJitMatchEager(_ device: Device) throws {
        let x = Tensor.randomNormal([4, 3], seed: 1, on: device)
        let w = Tensor.randomNormal([3, 5], seed: 2, on: device)
        let b = Tensor.randomNormal([5], seed: 3, on: device)
        let v = Tensor.randomNormal([5, 2], seed: 4, on: device)
        let labels = Tensor.randomUniform([4, 2], seed: 5, on: device)
        let params = [x, w, b, v, labels]
        let functions: [(String, ([Tensor]) -> [Tensor])] = [
            ("grad", { grad(Self.mlpLoss)($0) }),
            ("valueAndGrad", { let (value, g) = valueAndGrad(Self.mlpLoss)($0); return [value] + g }),
            ("vjp", { p in let (value, pullback) = vjp({ (q: [Tensor]) in (q[0].sin() * q[0]).sum(axis: 1) }, p); return [value] + pullback(value.cos()) }),
            ("jvp", { p in let r = jvp({ (q: Tensor) in (q.exp() * q).sum() }, primal: p[0], tangent: p[0].cos()); return [r.value, r.tangent] }),
            ("jacrev", { p in [jacrev { (q: Tensor) in (q * q).sin() }(p[2])] }),
            ("hessian", { p in [hessian { (q: Tensor) in (q.tanh() * q).sum() }(p[2])] }),
            ("vmap", { p in [vmap { (row: Tensor) in (row.matmul(p[1]) + p[2]).relu().sum() }(p[0])] }),
            ("vmap of grad", { p in [vmap(grad { (row: Tensor) in (row.matmul(p[1]).sigmoid()).sum() })(p[0])] }),
        ]
        for (name, function) in functions {
            let compiled = jit(name: name, function)
            let expected = function(params)
            for _ in 0..<2 {
                let actual = compiled(params)
                #expect(actual.count == expected.count)
                for (a, e) in zip(actual, expected) {
                    #expect(a.shape == e.shape, "\(name)")
                    expectClose(a, try e.doubles(), tolerance: 1e-4, "\(name) on \(device)")
                }
            }
            #expect(compiled.traceCount == 1, "\(name)")
        }
    }

    @Test(arguments: TestDevices.all)
    func jitComposesWithGradAndVmapOutside(_ device: Device) throws {
        let f = jit { (x: Tensor) in (x.sin() * x + 1).sum() }
        let x = Tensor([0.5, -1, 2] as [Float], on: device)
        expectClose(grad { (y: Tensor) in f(y) }(x), try grad { (y: Tensor) in (y.sin() * y + 1).sum() }(x).doubles(), tolerance: 1e-5)
        let rows = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]], on: device)
        expectClose(vmap { (row: Tensor) in f(row) }(rows), try vmap { (row: Tensor) in (row.sin() * row + 1).sum() }(rows).doubles(), tolerance: 1e-5)
        // jit of a jitted function inlines the inner one into the outer trace.
        let outer = jit { (y: Tensor) in f(y) * 2 }
        expectClose(outer(x), [2 * (try (x.sin() * x + 1).sum().doubles()[0])], tolerance: 1e-5)
    }

    @Test(arguments: TestDevices.all)
    func broadcastInputsBindTheirOneRowWithoutACopy(_ device: Device) throws {
        let f = jit { (t: [Tensor]) in [(t[0] * 2 + t[1]).exp().sum(axes: [1]), t[0]] }
        let row = Tensor.randomNormal([1, 5], seed: 40, on: device), column = Tensor.randomNormal([3, 1], seed: 41, on: device)
        let inputs = [row.expanded(to: [3, 5]), column.expanded(to: [3, 5])]
        let dense = inputs.map { $0.contiguous() }
        _ = f(inputs)
        try device.synchronize()
        let (broadcast, launches) = LaunchCount.counting { f(inputs) }
        // No copy of either input: the program's own launches only (the first call also
        // evaluated the constants at compile time).
        #expect(launches == f.lastProgram!.launches, "\(launches) launches for \(f.lastProgram!.kernels)")
        for (got, expected) in zip(broadcast, f(dense)) { expectClose(got, try expected.doubles(), tolerance: 1e-5) }
        expectClose(broadcast[1], try dense[0].doubles())
        #expect(broadcast[1].shape == [3, 5])
        // Dense inputs of the same shapes are another signature.
        #expect(f.traceCount == 2)
        _ = f([Tensor.constant(1.5, on: device).expanded(to: [3, 5]), inputs[1]])
        #expect(f.traceCount == 3 && f.cacheHits == 1)
        _ = f(inputs)
        #expect(f.cacheHits == 2)
    }

    @Test(arguments: TestDevices.all)
    func retracesOnNewSignatureAndCachesPrograms(_ device: Device) throws {
        let f = jit { (x: Tensor) in x * 2 + 1 }
        _ = f(Tensor.ones([3], on: device))
        _ = f(Tensor.zeros([3], on: device))
        #expect(f.traceCount == 1 && f.cacheHits == 1)
        _ = f(Tensor.ones([4], on: device))
        #expect(f.traceCount == 2)
        _ = f(Tensor.ones([4], dtype: .float64, on: device))
        #expect(f.traceCount == 3)
        expectClose(f(Tensor.ones([3], on: device)), [3, 3, 3])
        #expect(f.traceCount == 3 && f.cacheHits == 2 && f.cachedPrograms == 3)
        if device != .cpu {
            _ = f(Tensor.ones([3]).to(.cpu))
            #expect(f.traceCount == 4)
        }
        // A bounded cache (`capacity`, for shapes that keep changing) starts over.
        let bounded = jit(name: "bounded", capacity: 2) { (x: Tensor) in x * 2 }
        for size in 1...5 { expectClose(bounded(Tensor.ones([size], on: device)), [Double](repeating: 2, count: size)) }
        #expect(bounded.traceCount == 5 && bounded.cachedPrograms <= 2)
    }

    @Test(arguments: TestDevices.all)
    func staticArgumentsAreFoldedAndRetrace(_ device: Device) throws {
        let power = jit { (x: Tensor, exponent: Int) in x.pow(Double(exponent)).sum() }
        let x = Tensor([1, 2, 3] as [Float], on: device)
        expectClose(power(x, static: 2), [14], tolerance: 1e-5)
        expectClose(power(x, static: 3), [36], tolerance: 1e-5)
        expectClose(power(x, static: 2), [14], tolerance: 1e-5)
        #expect(power.traceCount == 2 && power.cacheHits == 1)

        let scaled = jit { (x: Tensor, scale: JitConstant) in x * (scale.tensor.exp() + 1) }
        let first = JitConstant(Tensor([0, 1, 2] as [Float], on: device))
        expectClose(scaled(x, static: first), [2, 2 * (M_E + 1), 3 * (exp(2) + 1)], tolerance: 1e-5)
        #expect(scaled.lastProgram!.launches == 1, "exp(scale) + 1 folds; one multiply is left: \(scaled.lastProgram!)")
        _ = scaled(x, static: JitConstant(Tensor([0, 1, 2] as [Float], on: device)))
        #expect(scaled.traceCount == 1)
        expectClose(scaled(x, static: JitConstant(Tensor([0, 0, 0] as [Float], on: device))), [2, 4, 6], tolerance: 1e-5)
        #expect(scaled.traceCount == 2)
    }

    @Test func hostReadWhileTracingIsAClearError() throws {
        let f = jit(name: "reader") { (x: Tensor) -> Tensor in
            let first = (try? x.item(as: Float.self)) ?? 0
            return x * Double(first)
        }
        let y = f(Tensor([2] as [Float]))
        #expect(throws: AdjointError.self) { try y.doubles() }
        do {
            _ = try y.doubles()
        } catch {
            #expect("\(error)".contains("jit(reader) cannot trace"))
            #expect("\(error)".contains("reads the values of a traced tensor"))
        }
    }

    @Test func processRandomStreamAdvancesOnReplay() throws {
        let noise = jit { (x: Tensor) in x + Tensor.randomNormal([3]) }
        let zero = Tensor.zeros([3])
        let a = try noise(zero).doubles(), b = try noise(zero).doubles()
        #expect(a != b)
        let seeded = jit { (x: Tensor) in x + Tensor.randomNormal([3], seed: 7) }
        #expect(try seeded(zero).doubles() == seeded(zero).doubles())
    }

    @Test func seedStreamDrawsMatchEagerCallsAndTraceOnce() throws {
        let function = { (x: Tensor, stream: SeedStream) -> Tensor in
            x * Tensor.randomUniform([4], seed: stream.nextSeed()) + Tensor.randomNormal([4], seed: stream.nextSeed())
        }
        let eagerStream = SeedStream(seed: 11), jitStream = SeedStream(seed: 11)
        let compiled = jit { (x: Tensor) in function(x, jitStream) }
        let x = Tensor([1, 2, 3, 4] as [Float])
        for call in 0..<4 {
            let expected = try function(x, eagerStream).doubles()
            #expect(try compiled(x).doubles() == expected, "call \(call)")
            #expect(jitStream.position.counter == eagerStream.position.counter)
        }
        #expect(compiled.traceCount == 1)
        #expect(jitStream.position.counter == 8, "two seeds per call, the traced call included once")
        jitStream.position = (11, 0)
        eagerStream.position = (11, 0)
        #expect(try compiled(x).doubles() == function(x, eagerStream).doubles(), "a restored stream replays its draws")
    }

    // MARK: - Passes

    @Test func deadCodeEliminationRemovesUnusedWork() throws {
        let function = { (x: Tensor) -> Tensor in
            _ = x.exp().matmul(x.transposed())
            return x * 3
        }
        let off = jit(options: JitOptions(eliminateDeadCode: false, fuseElementwise: false), function)
        let on = jit(options: JitOptions(fuseElementwise: false), function)
        let x = Tensor.randomNormal([4, 4], seed: 3)
        expectClose(on(x), try off(x).doubles())
        #expect(on.lastProgram!.deadSteps == 2)
        #expect(on.lastProgram!.launches == off.lastProgram!.launches - 2)
        #expect(on.lastProgram!.kernels == ["binary.mul"])
    }

    @Test func commonSubexpressionsMerge() throws {
        let function = { (x: Tensor) -> Tensor in x.exp() * x.exp() + x.exp() }
        let off = jit(options: JitOptions(mergeCommonSubexpressions: false, fuseElementwise: false), function)
        let on = jit(options: JitOptions(fuseElementwise: false), function)
        let x = Tensor.randomNormal([5], seed: 4)
        expectClose(on(x), try off(x).doubles())
        #expect(on.lastProgram!.mergedSteps == 2)
        #expect(on.lastProgram!.kernels == ["unary.exp", "binary.mul", "binary.add"])
        #expect(off.lastProgram!.launches == 5)
    }

    @Test func constantFoldingEvaluatesConstantSubgraphsAtCompileTime() throws {
        let table = Tensor([1, 2, 3] as [Float])
        let function = { (x: Tensor) -> Tensor in x * (table.exp() * 2 + Tensor.ones([3])).sqrt() }
        let off = jit(options: JitOptions(foldConstants: false, fuseElementwise: false), function)
        let on = jit(options: JitOptions(fuseElementwise: false), function)
        let x = Tensor([1, -1, 2] as [Float])
        expectClose(on(x), try off(x).doubles(), tolerance: 1e-6)
        #expect(on.lastProgram!.kernels == ["binary.mul"])
        #expect(on.lastProgram!.foldedSteps >= 4)
        #expect(off.lastProgram!.launches >= 5)
    }

    @Test(arguments: TestDevices.all)
    func fusionReducesLaunches(_ device: Device) throws {
        let function = { (x: [Tensor]) -> Tensor in
            ((x[0] * x[1] + 1).tanh() * 0.5 + x[0].sigmoid()).relu().sum(axis: 0)
        }
        let x = [Tensor.randomNormal([300, 40], seed: 8, on: device), Tensor.randomNormal([40], seed: 9, on: device)]
        let unfused = jit(options: JitOptions(fuseElementwise: false), function)
        let fused = jit(function)
        let expected = try function(x).doubles()
        expectClose(unfused(x), expected, tolerance: 1e-4)
        expectClose(fused(x), expected, tolerance: 1e-4)
        // Other suites share the device's ledger: count this task's launches only.
        func launches(_ compiled: JitFunction<[Tensor], NoStaticArgument, Tensor>) throws -> Int {
            try device.synchronize()
            return try LaunchCount.counting { _ = try compiled(x).doubles() }.launches
        }
        let fusedLaunches = try launches(fused), unfusedLaunches = try launches(unfused)
        #expect(fused.lastProgram!.fusedKernels == 1)
        #expect(fused.lastProgram!.launches == 1, "\(fused.lastProgram!.kernels)")
        #expect(unfused.lastProgram!.launches >= 8, "\(unfused.lastProgram!.kernels)")
        // A backend may run one step as two launches (OpenCL splits the long column sum).
        #expect(fusedLaunches == 1 && unfusedLaunches >= unfused.lastProgram!.launches, "fused \(fusedLaunches) vs \(unfusedLaunches)")
    }

    @Test(arguments: TestDevices.all)
    func fusedKernelsCoverEveryFloatAndBoolOp(_ device: Device) throws {
        let function = { (x: [Tensor]) -> [Tensor] in
            let a = x[0], b = x[1]
            let unary = a.exp() + a.sin() + a.cos() + a.tanh() + a.abs().sqrt() + (a.abs() + 0.5).log() + a.sign() + a.floor() + a.round() + a.sigmoid() - a
            let binary = (a / (b.abs() + 1)).pow(2) + a.maximum(b) + a.minimum(b) - b
            let mask = ((a .< b) .& (a .>= -1)) .| (a .== b).logicalNot()
            let picked = Tensor.where(mask, unary, binary) + mask.cast(to: .float32) + (a .> 0).cast(to: .float32)
            return [picked, picked.max(axis: 1), picked.min(axis: 0), (picked .!= 0)]
        }
        let x = [Tensor.randomNormal([6, 7], seed: 1, on: device), Tensor.randomNormal([7], seed: 2, on: device)]
        let expected = function(x)
        let compiled = jit(function)
        let actual = compiled(x)
        for (a, e) in zip(actual, expected) { expectClose(a, try e.doubles(), tolerance: 1e-4) }
        #expect(compiled.lastProgram!.fusedKernels >= 2, "\(compiled.lastProgram!)")
    }

    @Test(arguments: TestDevices.all)
    func fusedKernelsKeepIEEEEdgeCases(_ device: Device) throws {
        // NaN first operands win max/min, sign keeps NaN and -0, round takes halves away
        // from zero: the fused loops (C on the CPU, generated OpenCL) match eager ops bit
        // for bit on these.
        let function = { (t: [Tensor]) -> [Tensor] in
            let (x, y) = (t[0], t[1])
            return [x.maximum(y) * 1, x.minimum(y) * 1, x.sign() * 1, x.round() * 1, x.floor() * 1, x.abs().sqrt() * 1,
                    (x .< y).cast(to: .float32) + (x .== y).cast(to: .float32) * 2, Tensor.where(x .>= y, x, y) * 1]
        }
        let x = Tensor([.nan, -0.0, 2.5, -2.5, -1.5, .infinity, 3, -7] as [Float], on: device)
        let y = Tensor([1, 0, .nan, -2.5, 0.5, 1, 3, -.infinity] as [Float], on: device)
        let compiled = jit(function)
        for (index, (got, expected)) in zip(compiled([x, y]), function([x, y])).enumerated() {
            let a = try got.scalars(as: Float.self), e = try expected.scalars(as: Float.self)
            #expect(a.map(\.bitPattern) == e.map(\.bitPattern) || zip(a, e).allSatisfy { $0.isNaN && $1.isNaN || $0.bitPattern == $1.bitPattern },
                    "output \(index): \(a) vs eager \(e)")
        }
        #expect(compiled.lastProgram!.fusedKernels >= 1)
    }

    @Test(arguments: TestDevices.all)
    func longReductionsWithFewOutputsSplitIntoPartials(_ device: Device) throws {
        // A whole-tensor sum (and max, min over rows of 65,536) fuses with the elementwise
        // chain into partial results that one small reduce combines; a length no power of
        // two divides into pieces stays unfused.
        let function = { (t: [Tensor]) -> [Tensor] in
            let x = t[0]
            return [(x.sin() * 2 + 1).sum(), (x * 3).reshaped([2, 65_536]).max(axis: 1), (x - 1).reshaped([2, 65_536]).min(axis: 1), (t[1] * 3).sum(axis: 1)]
        }
        let x = [Tensor.randomNormal([131_072], seed: 5, on: device), Tensor.randomNormal([3, 50_000], seed: 6, on: device)]
        let compiled = jit(function)
        let expected = function(x)
        for (index, (got, want)) in zip(compiled(x), expected).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-4, "output \(index)")
        }
        let kernels = compiled.lastProgram!.kernels
        #expect(kernels.filter { $0.hasPrefix("fused(") && $0.contains("reduce.") }.count == 3, "\(kernels)")
        #expect(kernels.filter { $0.hasPrefix("reduce.") }.count == 4, "three combines and the unsplit sum: \(kernels)")
        #expect(JitGraph.splitParts(outer: 1, length: 1 << 26, inner: 1, interleaved: false) == 256)
        #expect(JitGraph.splitParts(outer: 1, length: 1 << 26, inner: 1, interleaved: true) == 262_144)
        #expect(JitGraph.splitParts(outer: 3, length: 50_000, inner: 1, interleaved: false) == nil)
    }

    @Test(arguments: TestDevices.all)
    func longRowReductionsFoldInAWorkGroupPerRow(_ device: Device) throws {
        // Rows of 300 (not a multiple of the 64 work-items) and of 128 (the shortest that
        // shares a row): sum, max and min, each fused with its elementwise chain.
        let function = { (t: [Tensor]) -> [Tensor] in
            let x = t[0]
            return [(x * x).sum(axis: 1), (x.exp() + 1).max(axis: 1), (x - 2).min(axis: 1), (t[1] * 3).sum(axis: 1)]
        }
        let x = [Tensor.randomNormal([5, 300], seed: 7, on: device), Tensor.randomNormal([3, 128], seed: 8, on: device)]
        let compiled = jit(function)
        for (index, (got, want)) in zip(compiled(x), function(x)).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
        }
        #expect(compiled.lastProgram!.kernels.filter { $0.hasPrefix("fused(") && $0.contains("reduce.") }.count == 4)
        let rows = FusedKernel(shape: [5, 300], nodes: [.load(0), .binary(.mul, 0, 0)], types: [.float32, .float32],
                               operands: [Layout(contiguous: [5, 300])], operandTypes: [.float32],
                               reduction: .init(op: .sum, outer: 5, length: 300, inner: 1))
        #expect(rows.rowGroups && rows.kernelSource.contains("__local float part[64]"))
        var columns = rows
        columns.reduction = .init(op: .sum, outer: 1, length: 5, inner: 300)
        #expect(!columns.rowGroups, "a column reduction keeps one work-item per output")
    }

    @Test(arguments: TestDevices.all)
    func elementwisePullbacksRunAsOneFusedKernel(_ device: Device) throws {
        // sin, cos, tanh, sigmoid and sqrt: the gradient against its closed form, for a
        // sum's (uniform) cotangent and a weighted one; the derivative alone is one launch
        // where plain ops take two or three; float64 and createGraph keep plain ops.
        let x = Tensor.randomUniform([300], low: 0.5, high: 2, seed: 3, on: device)
        let weights = Tensor.randomNormal([300], seed: 4, on: device)
        let xs = try x.doubles(), ws = try weights.doubles()
        let cases: [(Tensor.FusedDerivative, (Tensor) -> Tensor, (Double) -> Double)] = [
            (.sin, { $0.sin() }, { Foundation.cos($0) }),
            (.cos, { $0.cos() }, { -Foundation.sin($0) }),
            (.tanh, { $0.tanh() }, { 1 - Foundation.tanh($0) * Foundation.tanh($0) }),
            (.sigmoid, { $0.sigmoid() }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 - s) }),
            (.sqrt, { $0.sqrt() }, { 0.5 / Foundation.sqrt($0) }),
        ]
        for (derivative, f, closedForm) in cases {
            expectClose(grad { (t: Tensor) in f(t).sum() }(x), xs.map(closedForm), tolerance: 1e-5, "\(derivative), uniform cotangent")
            expectClose(grad { (t: Tensor) in (f(t) * weights).sum() }(x), zip(xs, ws).map { closedForm($0) * $1 }, tolerance: 1e-5, "\(derivative), weighted")
            let saved = derivative == .sin || derivative == .cos ? x : f(x)
            let (_, launches) = try LaunchCount.counting { try noGrad { Tensor.derivative(derivative, weights, saved) }.doubles() }
            #expect(launches == 1, "\(derivative): \(launches) launches")
        }
        let x64 = x.cast(to: .float64)
        expectClose(grad { (t: Tensor) in t.tanh().sum() }(x64), xs.map { 1 - Foundation.tanh($0) * Foundation.tanh($0) }, tolerance: 1e-12, "float64 runs plain ops")
        let second = grad { (t: Tensor) in grad { (u: Tensor) in u.sin().sum() }(t).sum() }(x)
        expectClose(second, xs.map { -Foundation.sin($0) }, tolerance: 1e-5, "a second derivative differentiates the plain pullback")
    }

    @Test(arguments: TestDevices.all)
    func independentKernelsLaunchTogether(_ device: Device) throws {
        // Four independent elementwise results of different shapes (one bool), as an
        // optimizer's updates are, then one that reads them: on a backend that launches
        // together (OpenCL GPUs; PoCL with ADJOINT_JIT_TOGETHER=1, as the test script's
        // second pass sets) the four run as one kernel, elsewhere as four.
        let function = { (t: [Tensor]) -> [Tensor] in
            let a = t[0] * 2 + 1, b = (t[1] * 3).relu(), c = t[2] .> 0.5, d = t[0].exp() - t[0]
            return [a, b, c.cast(to: .float32), d, (a + d).sum()]
        }
        let inputs = [Tensor.randomNormal([300], seed: 21, on: device), Tensor.randomNormal([4, 5], seed: 22, on: device), Tensor.randomNormal([7], seed: 23, on: device)]
        let compiled = jit(function)
        for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
        }
        let together = launchSaving(device)
        let kernels = compiled.lastProgram!.kernels
        #expect(kernels.filter { $0.hasPrefix("together(") }.count == (together ? 1 : 0), "\(kernels)")
        let (_, launches) = try LaunchCount.counting { _ = try compiled(inputs)[4].doubles() }
        #expect(launches == compiled.lastProgram!.launches, "\(kernels)")
    }

    @Test(arguments: TestDevices.all)
    func rankOneProductsOfVectorsBecomeBroadcastMultiplies(_ device: Device) throws {
        // On the CPU, products over a contracted axis of 1 with a vector side (a scale per
        // example times its row, batched, with a broadcast batch, through a transposed view,
        // in float64) are elementwise multiplies; one followed by a ReLU and a sum fuses with
        // them. A matrix outer product stays a GEMM.
        let function = { (t: [Tensor]) -> [Tensor] in
            let scaled = t[0].matmul(t[1])
            return [scaled, scaled.relu().sum(), t[2].matmul(t[3]), t[4].transposed().matmul(t[1]), t[5].matmul(t[6]), t[7].matmul(t[8])]
        }
        let inputs = [
            Tensor.randomNormal([6, 1, 1], seed: 51, on: device), Tensor.randomNormal([1, 5], seed: 52, on: device),
            Tensor.randomNormal([3, 4, 1], seed: 53, on: device), Tensor.randomNormal([3, 1, 1], seed: 54, on: device),
            Tensor.randomNormal([1, 1], seed: 55, on: device),
            Tensor.randomNormal([1, 1], dtype: .float64, seed: 56, on: device), Tensor.randomNormal([1, 3], dtype: .float64, seed: 57, on: device),
            Tensor.randomNormal([4, 1], seed: 58, on: device), Tensor.randomNormal([1, 3], seed: 59, on: device),
        ]
        let compiled = jit(function)
        for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
            #expect(got.shape == want.shape, "output \(index)")
            expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
        }
        // On the CPU (OpenCL runs every product as one launch and keeps them).
        let kernels = compiled.lastProgram!.kernels
        #expect(kernels.filter { $0.hasPrefix("matmul") }.count == (device == .cpu ? 1 : 5), "\(kernels)")
        if device == .cpu {
            #expect(kernels.contains { $0.contains("reduce.sum") && $0.contains("ops") }, "the ReLU and sum fuse with the product: \(kernels)")
        }
    }

    @Test(arguments: TestDevices.all)
    func rowWorkOfSoftmaxCrossEntropyRunsAsOneLaunch(_ device: Device) throws {
        // Cross-entropy over [batch, classes] with its gradient: the row max, exponential
        // sum, log-sum-exp, picked log-probability and gradient kernels each read only their
        // own row of what the one before wrote, so with the launch-saving passes they run as
        // one launch with a work-item per row, the mean over the batch moved after them.
        let function = { (t: [Tensor]) -> [Tensor] in
            let loss = { (logits: Tensor) -> Tensor in
                let hits = t[1].unsqueezed(axis: -1) .== Tensor.indices(10, on: logits.device)
                return -Tensor.where(hits, logits.logSoftmax(axis: -1), Tensor.constant(0, dtype: .float32, on: logits.device)).sum(axes: [-1]).mean()
            }
            let (value, gradient) = valueAndGrad(loss)(t[0] * 2)
            return [value, gradient]
        }
        // [48] examples, and [4, 12] (rows made of two axes).
        for shape in [[48], [4, 12]] {
            let inputs = [Tensor.randomNormal(shape + [10], seed: 41, on: device), Tensor.randomInt(shape, low: 0, high: 10, seed: 42, on: device)]
            let compiled = jit(function)
            for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
                expectClose(got, try want.doubles(), tolerance: 1e-5, "\(shape), output \(index)")
            }
            let kernels = compiled.lastProgram!.kernels
            let rows = kernels.first { $0.hasPrefix("rows(") }
            if launchSaving(device) {
                #expect((rows?.components(separatedBy: "fused(").count ?? 0) - 1 >= 4, "\(shape): \(kernels)")
            } else {
                #expect(rows == nil, "\(kernels)")
            }
            let (_, launches) = try LaunchCount.counting { _ = try compiled(inputs)[1].doubles() }
            #expect(launches == compiled.lastProgram!.launches, "\(kernels)")
        }
        // A row maximum of the function's input and the division by the row sums (nothing
        // to fuse either with) join the row kernel too: a softmax of an input is one launch
        // (four without the launch-saving passes: the exponentials, read twice, are stored).
        let softmax = jit { (x: Tensor) in x.softmax(axis: -1) }
        let x = Tensor.randomNormal([48, 10], seed: 43, on: device)
        expectClose(softmax(x), try x.softmax(axis: -1).doubles(), tolerance: 1e-6)
        #expect(softmax.lastProgram!.launches == (launchSaving(device) ? 1 : 4), "\(softmax.lastProgram!.kernels)")
    }

    @Test(arguments: TestDevices.all)
    func rowKernelsNeverReadAnotherRowOfTheirOwnResults(_ device: Device) throws {
        // exp(x) read along its rows and along its columns: only the row reader may share
        // the producer's launch (a work-item would read rows other work-items write).
        let function = { (t: [Tensor]) -> [Tensor] in
            let y = (t[0] * 0.3).exp()
            return [y.sum(axis: 1), (y.transposed() + 1).sum(axis: 1), (y * t[1]).max(axis: 1)]
        }
        let inputs = [Tensor.randomNormal([24, 24], seed: 43, on: device), Tensor.randomNormal([24, 1], seed: 44, on: device)]
        let compiled = jit(function)
        for _ in 0..<2 {
            for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
                expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
            }
        }
        let rows = 24, contiguous = Layout(contiguous: [rows, 24])
        #expect(JitGraph.readsOwnRow(contiguous, shape: [rows, 24], rows: rows, rowSize: 24))
        #expect(JitGraph.readsOwnRow(Layout(shape: [rows, 24], strides: [1, 0], offset: 0), shape: [rows, 24], rows: rows, rowSize: 1), "a per-row value broadcast along the row")
        #expect(JitGraph.readsOwnRow(Layout(contiguous: [rows]), shape: [rows], rows: rows, rowSize: 1))
        #expect(!JitGraph.readsOwnRow(Layout(shape: [rows, 24], strides: [1, 24], offset: 0), shape: [rows, 24], rows: rows, rowSize: 24), "transposed")
        #expect(!JitGraph.readsOwnRow(Layout(shape: [rows, 24], strides: [24, 1], offset: 24), shape: [rows, 24], rows: rows, rowSize: 24), "shifted a row")
        #expect(!JitGraph.readsOwnRow(Layout(shape: [rows, 12], strides: [12, 1], offset: 0), shape: [rows, 12], rows: rows, rowSize: 24), "rows half as long")
        #expect(JitGraph.readsOwnRow(Layout(shape: [rows, 12], strides: [24, 1], offset: 0), shape: [rows, 12], rows: rows, rowSize: 24), "the first half of each row")
        #expect(!JitGraph.readsOwnRow(Layout(shape: [rows, 24], strides: [24, 2], offset: 0), shape: [rows, 24], rows: rows, rowSize: 24), "past the row's end")
        // Rows made of leading axes: [4, 6] rows of 10.
        #expect(JitGraph.readsOwnRow(Layout(contiguous: [4, 6, 10]), shape: [4, 6, 10], rows: 24, rowSize: 10))
        #expect(JitGraph.readsOwnRow(Layout(shape: [4, 6, 10], strides: [6, 1, 0], offset: 0), shape: [4, 6, 10], rows: 24, rowSize: 1), "a value per row, broadcast")
        #expect(!JitGraph.readsOwnRow(Layout(shape: [4, 6, 10], strides: [10, 40, 1], offset: 0), shape: [4, 6, 10], rows: 24, rowSize: 10), "leading axes swapped")
        #expect(!JitGraph.readsOwnRow(Layout(contiguous: [4, 6, 10]), shape: [4, 6, 10], rows: 12, rowSize: 20), "rows that are not leading axes")
    }

    @Test(arguments: TestDevices.all)
    func reductionsJoinTheProducerTheyShareWithLaterSteps(_ device: Device) throws {
        // exp(x/2) read by its row sum, its row max and a later product; exp(w/10) read by
        // its column sum and a later product: with the launch-saving passes (OpenCL GPUs)
        // each producer and its reduction are one launch that also keeps the values.
        let function = { (t: [Tensor]) -> [Tensor] in
            let y = (t[0] * 0.5).exp(), v = (t[1] * 0.1).exp()
            let rows = y.sum(axis: 1), peaks = y.max(axis: 1), columns = v.sum(axis: 0)
            return [rows, peaks, (y * rows.unsqueezed(axis: 1)).sum(), columns, (v * 2).sum(axis: 1)]
        }
        let inputs = [Tensor.randomNormal([64, 40], seed: 31, on: device), Tensor.randomNormal([100, 300], seed: 32, on: device)]
        let compiled = jit(function)
        for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
        }
        let kernels = compiled.lastProgram!.kernels
        let kept = kernels.joined(separator: " ").components(separatedBy: "values kept").count - 1
        #expect(kept == (launchSaving(device) ? 2 : 0), "\(kernels)")
        let (_, launches) = try LaunchCount.counting { _ = try compiled(inputs)[0].doubles() }
        #expect(launches >= compiled.lastProgram!.launches, "\(kernels)")
    }

    @Test(arguments: TestDevices.all)
    func elementwiseWorkOnAReductionBecomesItsEpilogue(_ device: Device) throws {
        // A mean (sum, then a division), a log-sum-exp (max and sum, then log + max), a
        // comparison of a sum (bool result), and a sum read twice (no epilogue): with the
        // launch-saving passes the work after each reduction runs in the reduction's kernel.
        let function = { (t: [Tensor]) -> [Tensor] in
            let x = t[0]
            let perRow = (x * x).sum(axis: 1)
            let twice = (x * 2).sum(axis: 1)
            return [perRow.mean(), x.logSumExp(axes: [1]), (x.exp().sum(axis: 1) .> 12).cast(to: .float32), twice * twice.sum()]
        }
        let inputs = [Tensor.randomNormal([128, 10], seed: 41, on: device)]
        let compiled = jit(function)
        for (index, (got, want)) in zip(compiled(inputs), function(inputs)).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-5, "output \(index)")
        }
        let kernels = compiled.lastProgram!.kernels
        // Counted in the kernel summaries, row kernels' members included.
        let epilogues = kernels.joined(separator: " ").components(separatedBy: " after").count - 1
        #expect(launchSaving(device) ? epilogues >= 3 : epilogues == 0, "\(kernels)")
        let (_, launches) = try LaunchCount.counting { _ = try compiled(inputs)[0].doubles() }
        #expect(launches >= compiled.lastProgram!.launches, "\(kernels)")
    }

    @Test(arguments: TestDevices.all)
    func aSiblingKernelJoinsTheReductionOverTheSameElements(_ device: Device) throws {
        // W1's value and gradient (a long sum, split into partials, beside 2·cos x), a
        // short one, and a bool sibling: with the launch-saving passes each reduction's
        // kernel also computes and stores its sibling, one pass over x.
        let step = { (t: [Tensor]) -> [Tensor] in
            let (value, gradient) = valueAndGrad { (x: Tensor) in (x.sin() * 2 + 1).sum() }(t[0])
            let small = t[1]
            return [value, gradient, (small * small).sum(), (small .> 0.25).cast(to: .float32) * 3]
        }
        let inputs = [Tensor.randomNormal([131_072], seed: 51, on: device), Tensor.randomNormal([300], seed: 52, on: device)]
        let compiled = jit(step)
        for (index, (got, want)) in zip(compiled(inputs), step(inputs)).enumerated() {
            expectClose(got, try want.doubles(), tolerance: 1e-4, "output \(index)")
        }
        let kernels = compiled.lastProgram!.kernels
        let kept = kernels.filter { $0.contains("values kept") }.count
        #expect(launchSaving(device) ? kept == 2 : kept == 0, "\(kernels)")
    }

    @Test(arguments: TestDevices.all)
    func intComparisonsFuseOnOpenCL(_ device: Device) throws {
        // A one-hot select of each row's label (cross-entropy's pick): on OpenCL the int32
        // comparison with the class indices fuses with the select and the row sum; the
        // CPU, which interprets float registers, keeps it as its own step.
        let function = { (t: [Tensor]) -> [Tensor] in
            let hits = t[1].unsqueezed(axis: -1) .== Tensor.indices(10, on: device)
            return [Tensor.where(hits, t[0], Tensor.constant(0, on: device)).sum(axes: [-1])]
        }
        let x = [Tensor.randomNormal([5, 10], seed: 61, on: device), Tensor([3, 0, 9, 9, 1] as [Int32], on: device)]
        let compiled = jit(function)
        let rows = try x[0].doubles()
        expectClose(compiled(x)[0], [3, 0, 9, 9, 1].enumerated().map { rows[$0.offset * 10 + $0.element] }, tolerance: 0, "each row's label")
        let kernels = compiled.lastProgram!.kernels
        #expect(kernels.contains("binary.eq") == (device == .cpu), "\(kernels)")
        #expect(try Tensor.indices(4, on: device).doubles() == [0, 1, 2, 3] && Tensor.indices(4, on: device).dtype == .int32)
    }

    @Test(arguments: TestDevices.all)
    func float64ChainsFuseOnOpenCL(_ device: Device) throws {
        // float64 chains and their reductions are generated as double kernels where the
        // device has doubles; the CPU's interpreter, float registers only, runs them as
        // primitives. A float32 input cast up and a result cast back share the kernel.
        let function = { (t: [Tensor]) -> [Tensor] in
            let x = t[0], y = t[1].cast(to: .float64)
            let chain = (x.sin() * 2 + y).exp()
            return [chain.sum(axes: [1]), chain.max(), (chain * 0.5).cast(to: .float32), (x * x).sum()]
        }
        let x = [Tensor.randomNormal([64, 300], dtype: .float64, seed: 63, on: device), Tensor.randomNormal([300], seed: 64, on: device)]
        let compiled = jit(function)
        for (actual, expected) in zip(compiled(x), function(x)) {
            expectClose(actual, try expected.doubles(), tolerance: actual.dtype == .float64 ? 1e-11 : 1e-6)
            #expect(actual.dtype == expected.dtype)
        }
        let program = compiled.lastProgram!
        let fuses = device != .cpu && Device.available.first { $0.device == device }?.supportsFloat64 == true
        #expect(program.kernels.contains("unary.sin") == !fuses, "\(program.kernels)")
        #expect(program.kernels.contains { $0.hasPrefix("fused") || $0.hasPrefix("rows") || $0.hasPrefix("together") } == fuses, "\(program.kernels)")
        // The same values over a long sum split into partial sums (one output, 2^20 terms).
        let long = Tensor.randomNormal([1 << 20], dtype: .float64, seed: 65, on: device)
        let total = jit { (x: Tensor) in (x * x + 1).sum() }
        expectClose(total(long), try (long * long + 1).sum().doubles(), tolerance: 1e-11)
    }

    @Test(arguments: TestDevices.all)
    func splitProductsAreSummedByTheirReaders(_ device: Device) throws {
        // [8, 2048] · [2048, 4]: 32 outputs over a long k, which OpenCL splits into partial
        // products; under jit with the launch-saving passes (GPUs) the ReLU that reads the
        // product sums them as it loads, so the backend's separate sum goes.
        let function = { (t: [Tensor]) -> [Tensor] in [(t[0].matmul(t[1]) - 0.5).relu() * 2] }
        let inputs = [Tensor.randomNormal([8, 2048], seed: 71, on: device), Tensor.randomNormal([2048, 4], seed: 72, on: device)]
        let compiled = jit(function)
        expectClose(compiled(inputs)[0], try function(inputs)[0].doubles(), tolerance: 1e-4)
        let kernels = compiled.lastProgram!.kernels
        #expect(kernels.contains { $0.contains("summed by readers") } == launchSaving(device), "\(kernels)")
        let (_, launches) = try LaunchCount.counting { _ = try compiled(inputs)[0].doubles() }
        // Without the pass the backend adds its own sum of the partial products.
        #expect(launchSaving(device) ? launches == compiled.lastProgram!.launches : launches >= compiled.lastProgram!.launches, "\(kernels)")
    }

    @Test func kernelsLaunchedTogetherKeepTheirInputsLive() {
        // a = exp(x); b = exp(a); c = exp(y); d = exp(c); outputs b and d. Steps 1 and 2
        // are independent (a group); a dies at step 1, so without the group c takes a's
        // memory, and with it c must not (step 2 runs while step 1 still reads a).
        let exp = FusedKernel(shape: [4], nodes: [.load(0), .unary(.exp, 0)], types: [.float32, .float32],
                              operands: [Layout(contiguous: [4])], operandTypes: [.float32], reduction: nil)
        var graph = JitGraph(device: .cpu)
        graph.buffers = (0..<6).map { JitBuffer(count: 4, dtype: .float32, input: $0 < 2 ? $0 : nil) }
        graph.inputs = [0, 1]
        func step(_ input: Int, _ output: Int) -> JitStep {
            JitStep(kernel: .fused(exp), inputs: [JitOperand(ref: .buffer(input), layout: Layout(contiguous: [4]), dtype: .float32)],
                    output: output, layout: Layout(contiguous: [4]), dtype: .float32, redraw: nil)
        }
        graph.steps = [step(0, 2), step(2, 3), step(1, 4), step(4, 5)]
        graph.outputs = [3, 5].map { JitOperand(ref: .buffer($0), layout: Layout(contiguous: [4]), dtype: .float32) }
        #expect(graph.horizontalGroups() == [1..<3])
        let apart = BufferPlan(graph: graph, reuse: true), grouped = BufferPlan(graph: graph, reuse: true, groups: [1..<3])
        #expect(apart.slotOf[4] == apart.slotOf[2], "without the group, c reuses a's memory")
        #expect(grouped.slotOf[4] != grouped.slotOf[2] && grouped.slotOf[4] != grouped.slotOf[3], "in the group, c has its own")
        let source = HorizontalKernel(members: [exp, exp]).openCLSource
        #expect(source.contains("int n0, int n1") && source.contains("(e -= n0) < n1"))
    }

    @Test(arguments: TestDevices.all)
    func cheapProducersAreRecomputedInEachFusedReader(_ device: Device) throws {
        // A ReLU's pre-activation and mask, each read by two kernels: recomputed in both,
        // never stored. An exp read twice is not cheap: it is stored once and read.
        let relu = { (t: [Tensor]) -> [Tensor] in
            let h = t[0] + t[1], mask = h .> 0
            return [Tensor.where(mask, h, Tensor.constant(0, on: h.device)), Tensor.where(mask, t[0] * 3, Tensor.constant(0, on: h.device)).sum(axis: 1)]
        }
        let exponential = { (x: Tensor) -> [Tensor] in let e = x.exp(); return [e * 2, e + 1] }
        let x = [Tensor.randomNormal([5, 6], seed: 3, on: device), Tensor.randomNormal([6], seed: 4, on: device)]
        let compiled = jit(relu), unfused = jit(options: JitOptions(fuseElementwise: false), relu)
        for (a, e) in zip(compiled(x), relu(x)) { expectClose(a, try e.doubles(), tolerance: 1e-5) }
        _ = unfused(x)
        // With the launch-saving passes the two share a launch, a work-item per row.
        let kernels = launchSaving(device) ? ["rows(fused(3 ops), fused(4 ops + reduce.sum))"] : ["fused(3 ops)", "fused(4 ops + reduce.sum)"]
        #expect(compiled.lastProgram!.kernels == kernels, "\(compiled.lastProgram!.kernels)")
        #expect(unfused.lastProgram!.launches == 6)
        let expCompiled = jit(exponential)
        for (a, e) in zip(expCompiled(x[0]), exponential(x[0])) { expectClose(a, try e.doubles(), tolerance: 1e-5) }
        #expect(expCompiled.lastProgram!.kernels.filter { $0 == "unary.exp" }.count == 1, "\(expCompiled.lastProgram!.kernels)")
        // Its two readers launch together where jit saves launches.
        #expect(expCompiled.lastProgram!.launches == (launchSaving(device) ? 2 : 3), "\(expCompiled.lastProgram!.kernels)")
    }

    @Test(arguments: TestDevices.all)
    func producersMergeIntoTheirReaderWhichStoresTheirValues(_ device: Device) throws {
        // Adam's shape: the moments are outputs and the update reads them. One kernel
        // reads g, m, v and w once and writes all three results.
        let adam = { (t: [Tensor]) -> [Tensor] in
            let m = 0.9 * t[1] + 0.1 * t[0], v = 0.99 * t[2] + 0.01 * t[0] * t[0]
            return [t[3] - 0.5 * m / (v.sqrt() + 1e-8), m, v]
        }
        let inputs = (0..<4).map { Tensor.randomNormal([40, 130], seed: UInt64(20 + $0), on: device).abs() }
        let compiled = jit(adam)
        for _ in 0..<2 {
            for (got, expected) in zip(compiled(inputs), adam(inputs)) { expectClose(got, try expected.doubles(), tolerance: 1e-5) }
        }
        #expect(compiled.lastProgram!.kernels == ["fused(12 ops, 3 outputs)"], "\(compiled.lastProgram!.kernels)")
        // A producer read by a step before the reader (a sum) keeps its own launch: the
        // reader would write its values after the sum needs them.
        let early = { (t: [Tensor]) -> [Tensor] in
            let p = (t[0] * 2).exp()
            return [p.sum(), (p + t[1]) * 3]
        }
        let pair = [Tensor.randomNormal([6, 5], seed: 30, on: device), Tensor.randomNormal([6, 5], seed: 31, on: device)]
        let kept = jit(early)
        for (got, expected) in zip(kept(pair), early(pair)) { expectClose(got, try expected.doubles(), tolerance: 1e-5) }
        #expect(!kept.lastProgram!.kernels.contains { $0.contains("outputs") }, "\(kept.lastProgram!.kernels)")
        #expect(kept.lastProgram!.launches == (launchSaving(device) ? 2 : 3), "\(kept.lastProgram!.kernels)")
    }

    @Test(arguments: TestDevices.all)
    func scalarChainsAreComputedInEveryKernelThatBroadcastsThem(_ device: Device) throws {
        // An optimizer's bias correction: a chain of scalar work (square root included)
        // read by two updates of different shapes and a reduction's input. Each fused
        // reader computes it; only the returned scalar is stored by a launch of its own.
        // 5,200 elements: the CPU computes the chain once per task over a block of 512
        // and reuses it for the others.
        let update = { (t: [Tensor]) -> [Tensor] in
            let advanced = t[2] * 0.999 + 0.001, correction = 1 / advanced.sqrt()
            return [t[0] * correction - 1, (t[1] * correction).exp().sum(), advanced]
        }
        let inputs = [Tensor.randomNormal([40, 130], seed: 5, on: device), Tensor.randomNormal([7], seed: 6, on: device), Tensor([0.25] as [Float], on: device).reshaped([])]
        let compiled = jit(update)
        for _ in 0..<2 {
            for (got, expected) in zip(compiled(inputs), update(inputs)) { expectClose(got, try expected.doubles(), tolerance: 1e-5) }
        }
        // The returned scalar's launch (2 ops), then the readers, each computing the
        // square root and the reciprocal (2 ops) before its own (2).
        #expect(compiled.lastProgram!.kernels == ["fused(2 ops)", "fused(4 ops)", "fused(4 ops + reduce.sum)"], "\(compiled.lastProgram!.kernels)")
    }

    @Test(arguments: TestDevices.all)
    func bufferReuseLowersPeakBuffers(_ device: Device) throws {
        let function = { (x: Tensor) -> Tensor in
            var y = x
            for _ in 0..<6 { y = y.matmul(x).tanh() }
            return y
        }
        let x = Tensor.randomNormal([8, 8], seed: 2, on: device) * 0.3
        let without = jit(options: JitOptions(fuseElementwise: false, reuseBuffers: false), function)
        let with = jit(options: JitOptions(fuseElementwise: false), function)
        expectClose(with(x), try without(x).doubles(), tolerance: 1e-5)
        #expect(without.lastProgram!.slots == 12)
        #expect(with.lastProgram!.slots <= 3, "\(with.lastProgram!)")
    }

    @Test func noPassesReplayTheTraceAsRecorded() throws {
        let f = jit(options: .none) { (x: Tensor) in (x * 2).exp() }
        expectClose(f(Tensor([0, 1] as [Float])), [1, exp(2)], tolerance: 1e-5)
        #expect(f.lastProgram!.kernels == ["binary.mul", "unary.exp"])
    }
}

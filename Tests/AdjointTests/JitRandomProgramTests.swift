import Adjoint
import AdjointRandomPrograms
import AdjointTestSupport
import Foundation
import Testing

/// Differential tests on random programs (`RandomProgram`): each program's values and
/// gradients compiled with jit against the same program run eagerly, over three calls (new
/// inputs, then the same ones again: replays and recorded frames); vmapped, eagerly and
/// compiled, against a loop over the examples; and on OpenCL, run eagerly, against the
/// CPU backend. Every result is held to the accuracy of its float32 reference, measured
/// against the program run in float64.
///
/// `ADJOINT_RANDOM_PROGRAMS=N` runs N programs per device (`ADJOINT_RANDOM_PROGRAM_SEED=S`
/// from seed S; 40 from 0 by default) for a longer search. What the programs found is
/// reduced to tests of its own (below, and `TensorTests.emptyTensorsDrawReduceAndDifferentiate`):
/// a seed names a program only as long as the generator stays the same.
@Suite struct JitRandomProgramTests {
    static var seeds: Range<UInt64> {
        let environment = ProcessInfo.processInfo.environment
        let start = environment["ADJOINT_RANDOM_PROGRAM_SEED"].flatMap { UInt64($0) } ?? 0
        return start..<(start + (environment["ADJOINT_RANDOM_PROGRAMS"].flatMap { UInt64($0) } ?? 40))
    }

    /// Whether the run uses the default seeds (whose coverage of the passes is asserted).
    static var defaultSeeds: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["ADJOINT_RANDOM_PROGRAM_SEED"] == nil && environment["ADJOINT_RANDOM_PROGRAMS"] == nil
    }

    @Test(arguments: TestDevices.all)
    func randomProgramsMatchEagerThroughJit(_ device: Device) throws {
        var seen: [String: Int] = [:]
        for seed in Self.seeds {
            let program = RandomProgram(seed: seed)
            let (problems, compiled) = try program.jitProblems(on: device)
            for problem in problems { Issue.record("\(problem)\n\(program)") }
            #expect(compiled.traceCount == 1, "\(program)")
            for kernel in compiled.lastProgram?.kernels ?? [] {
                for feature in Self.features where kernel.contains(feature) { seen[feature, default: 0] += 1 }
            }
        }
        print("random programs on \(device), launches of each kind: \(seen.sorted { $0.key < $1.key })")
        // The programs keep reaching the passes they are here to test.
        if Self.defaultSeeds {
            let expected = device.jitSavesLaunches ? Self.features : ["fused(", "matmul"]
            for feature in expected { #expect(seen[feature, default: 0] > 0, "no \(feature) launch among the programs on \(device)") }
        }
    }

    /// Inputs passed as views: transposed, sliced with a step, broadcast along an axis
    /// (a row or column spread over a matrix), against the program run eagerly on the
    /// same views.
    @Test(arguments: TestDevices.all)
    func randomProgramsTakeViewsAsInputs(_ device: Device) throws {
        for seed in Self.seeds {
            let program = RandomProgram(seed: seed)
            var draw = Draw(seed: seed &+ 31)
            let inputs = program.inputShapes.enumerated().map { index, shape -> Tensor in
                let seed = seed &* 1_000 &+ 700 &+ UInt64(index)
                guard !shape.isEmpty else { return Tensor.randomNormal(shape, seed: seed, on: device) }
                switch draw.int(0...2) {
                case 0 where shape.count >= 2:
                    return Tensor.randomNormal(shape.reversed(), seed: seed, on: device).permuted(Array((0..<shape.count).reversed()))
                case 1:
                    var wide = shape
                    wide[wide.count - 1] *= 2
                    return Tensor.randomNormal(wide, seed: seed, on: device).slice(axis: shape.count - 1, start: 0, end: wide.last!, step: 2)
                default:
                    var row = shape
                    row[0] = 1
                    return Tensor.randomNormal(row, seed: seed, on: device).expanded(to: shape)
                }
            }
            let compiled = jit(name: "random program \(seed) on views") { (x: [Tensor]) in program.valuesAndGradients(x) }
            let exact = program.valuesAndGradients(inputs.map { $0.to(.cpu).cast(to: .float64) })
            try Self.compare(compiled(inputs), program.valuesAndGradients(inputs), exact: exact, program: program, what: "views as inputs on \(device)")
        }
    }

    /// Float64 programs: jit leaves their steps unfused (fused kernels are float32), so
    /// they replay primitive by primitive, through the buffer plan, and equal eager runs
    /// to float64 rounding.
    @Test(arguments: TestDevices.all)
    func randomFloat64ProgramsMatchEagerThroughJit(_ device: Device) throws {
        for seed in Self.defaultSeeds ? Self.seeds.prefix(20) : Self.seeds {
            let program = RandomProgram(seed: seed)
            let compiled = jit(name: "float64 random program \(seed)") { (x: [Tensor]) in program.valuesAndGradients(x) }
            for call: UInt64 in [0, 1] {
                let inputs = program.inputs(call: call, on: device).map { $0.cast(to: .float64) }
                let (actual, expected) = (compiled(inputs), program.valuesAndGradients(inputs))
                #expect(actual.count == expected.count)
                for (index, (a, e)) in zip(actual, expected).enumerated() {
                    #expect(a.dtype == .float64 && a.shape == e.shape)
                    let values = try e.doubles()
                    expectClose(try a.doubles(), values, tolerance: 1e-9 * (1 + (values.map { Swift.abs($0) }.max() ?? 0)),
                                "output \(index), call \(call) on \(device)\n\(program)")
                }
            }
        }
    }

    /// The gradients of each program's loss, in float64, and its `jvp`, against a central
    /// difference along a random direction: the engine's composition of the ops' rules (broadcast
    /// cotangents summed back, adjoints written into views, accumulation over readers),
    /// eagerly on every device.
    @Test(arguments: TestDevices.all)
    func randomProgramsGradientsMatchCentralDifferences(_ device: Device) throws {
        for seed in Self.seeds {
            let program = RandomProgram(seed: seed)
            let inputs = program.inputs(call: 0, on: device).map { $0.cast(to: .float64) }
            let direction = program.inputs(call: 7, on: device).map { $0.cast(to: .float64) }
            let gradients = Array(program.valuesAndGradients(inputs)[program.outputs.count...].prefix(inputs.count))
            var analytic = 0.0
            for (gradient, step) in zip(gradients, direction) { analytic += try (gradient * step).sum().item() }
            let epsilon = 1e-6
            let plus: Double = try program.loss(zip(inputs, direction).map { $0 + $1 * epsilon }).item()
            let minus: Double = try program.loss(zip(inputs, direction).map { $0 - $1 * epsilon }).item()
            let numeric = (plus - minus) / (2 * epsilon)
            #expect(Swift.abs(analytic - numeric) <= 1e-5 * (1 + Swift.abs(numeric)),
                    "directional derivative \(analytic) vs central difference \(numeric) on \(device)\n\(program)")
            // Forward mode gives the same directional derivative.
            let forward = jvp(program.loss, primal: inputs, tangent: direction)
            let tangent: Double = try forward.tangent.item()
            #expect(Swift.abs(tangent - numeric) <= 1e-5 * (1 + Swift.abs(numeric)),
                    "jvp \(tangent) vs central difference \(numeric) on \(device)\n\(program)")
        }
    }

    /// Substrings of `JitProgramSummary.kernels` naming what a pass made.
    static let features = ["fused(", "rows(", "together(", "values kept", " after", "summed by readers", "matmul"]

    @Test(arguments: TestDevices.all)
    func randomProgramsBatchLikeALoopEagerlyAndThroughJit(_ device: Device) throws {
        for seed in Self.seeds {
            let program = RandomProgram(seed: seed)
            var draw = Draw(seed: seed &+ 77)
            let batch = 3
            // Each input batched along a random axis, or shared by every example (nil; not
            // the first, so something is batched).
            let axes: [Int?] = program.inputShapes.enumerated().map { index, shape in
                index > 0 && draw.uniform() < 0.25 ? nil : draw.int(0...shape.count)
            }
            let inputs = zip(program.inputShapes, axes).enumerated().map { index, pair -> Tensor in
                var shape = pair.0
                if let axis = pair.1 { shape.insert(batch, at: axis) }
                return Tensor.randomNormal(shape, seed: seed &* 1_000 &+ 500 &+ UInt64(index), on: device)
            }
            func example(_ b: Int, _ tensors: [Tensor]) -> [Tensor] {
                zip(tensors, axes).map { tensor, axis in axis.map { tensor.slice(axis: $0, start: b, end: b + 1).squeezed(axis: $0) } ?? tensor }
            }
            func loop(_ tensors: [Tensor]) -> [Tensor] {
                let results = (0..<batch).map { program.valuesAndGradients(example($0, tensors)) }
                return results[0].indices.map { output in Tensor.stack(results.map { $0[output] }, axis: 0) }
            }
            let vectorized = vmap({ (x: [Tensor]) in program.valuesAndGradients(x) }, inAxes: axes)
            let reference = loop(inputs)
            let exact = loop(inputs.map { $0.to(.cpu).cast(to: .float64) })
            try Self.compare(vectorized(inputs), reference, exact: exact, program: program, what: "vmap over axes \(axes) on \(device)")
            let compiled = jit(name: "vmap of random program \(seed)", vectorized)
            try Self.compare(compiled(inputs), reference, exact: exact, program: program, what: "jit of vmap over axes \(axes) on \(device)")
        }
    }

    @Test func randomProgramsAgreeAcrossBackends() throws {
        guard let device = TestDevices.requireOpenCL() else { return }
        for seed in Self.seeds {
            let program = RandomProgram(seed: seed)
            let inputs = program.inputs(call: 0, on: .cpu)
            let exact = program.valuesAndGradients(inputs.map { $0.cast(to: .float64) })
            try Self.compare(program.valuesAndGradients(inputs.map { $0.to(device) }), program.valuesAndGradients(inputs),
                             exact: exact, program: program, what: "\(device) against the CPU")
        }
    }

    // MARK: What the random programs found, reduced

    /// A kernel that computes a value in place must not also read a slice of it as the
    /// value itself (`v[..., 0::2] + v` added `v + v`).
    @Test(arguments: TestDevices.all)
    func aSliceOfAFusedValueReadsItsStoredElements(_ device: Device) throws {
        let f = { (x: [Tensor]) -> Tensor in
            let v = -(x[1] + (x[0] * 0.5).sigmoid().mean())
            return v.slice(axis: 1, start: 0, end: 2, step: 2) + v
        }
        let x = [Tensor([[0.5, -1, 2]] as [[Float]], on: device), Tensor([[1, 2, 3]] as [[Float]], on: device)]
        let expected = try f(x).doubles()
        expectClose(jit(f)(x), expected, tolerance: 1e-6, "on \(device)")
        #expect(Swift.abs(expected[2] - expected[0] - (try (x[1][0, 0] - x[1][0, 2]).item())) < 1e-5)
    }

    /// A max's or min's pullback compares the reduced values with the result: a kernel
    /// that recomputed them (a cosine kept in memory for other readers, computed again
    /// in the pullback's kernel by another code path) lost the gradient where the two
    /// roundings differed (found vmapped).
    @Test(arguments: TestDevices.all)
    func aMinsGradientReachesItsArgminThroughJit(_ device: Device) throws {
        let x = Tensor.randomNormal([130, 3, 200], seed: 679_500, on: device)
        let f = vmap({ (x: Tensor) -> Tensor in
            grad { (x: Tensor) in (x.cos().abs().min(axes: [1], keepDims: true).squared()).sum() * 0.5 }(x)
        }, inAxes: 1)
        let eager = try f(x).doubles()
        expectClose(jit(f)(x), eager, tolerance: 1e-5, "on \(device)")
        // One nonzero gradient per row of 200 (no ties among normal draws).
        #expect(eager.filter { $0 != 0 }.count == 130 * 3)
    }

    /// Records an issue wherever `actual` is less accurate than `reference`
    /// (`RandomProgram.accuracyProblems`).
    static func compare(_ actual: [Tensor], _ reference: [Tensor], exact: [Tensor], program: RandomProgram, what: String,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        for problem in try program.accuracyProblems(actual, reference, exact: exact) {
            Issue.record("\(problem), \(what)\n\(program)", sourceLocation: sourceLocation)
        }
    }
}

import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// The README's API guide, block by block: each `// README` region below is the text of a
/// README code block, followed by checks of the values its comments state. The last test
/// fails when a README block drifts from this file.
@Suite struct ReadmeExampleTests {
    @Test func tensors() throws {
        // README: tensors
        let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])      // shape [2, 3], float32
        let row = Tensor([10, 20, 30] as [Float])
        let sum = m + row                                        // broadcasting: [[11, 22, 33], [14, 25, 36]]
        let view = m[.all, 1..<3]                                // a view: [[2, 3], [5, 6]]
        let rowSums = m.sum(axes: [1])                           // [6, 15]
        let flat = m.transposed().reshaped([6])                  // [1, 4, 2, 5, 3, 6]
        let noise = Tensor.randomNormal([4096], seed: 42)        // the same draws on every device (Philox)
        let values = try m.scalars(as: Float.self)               // reading is the only sync point
        // END README
        #expect(m.shape == [2, 3] && m.dtype == .float32)
        expectClose(sum, [11, 22, 33, 14, 25, 36])
        #expect(view.shape == [2, 2])
        expectClose(view, [2, 3, 5, 6])
        expectClose(rowSums, [6, 15])
        expectClose(flat, [1, 4, 2, 5, 3, 6])
        expectClose(noise, try Tensor.randomNormal([4096], seed: 42, on: .cpu).doubles(), tolerance: 1e-5)
        #expect(values == [1, 2, 3, 4, 5, 6])
    }

    @Test func autograd() throws {
        // README: autograd
        var x = Tensor.linspace(0, 2 * Double.pi, count: 25)
        x.requiresGrad = true
        x.sin().sum().backward()
        let slopes = x.grad!                                     // cos(x)

        let out3 = 2 * x.sin() + 1
        let name = out3.gradFn?.name                             // "AddBackward"

        var v = Tensor([1, 2, 3] as [Float])
        v.requiresGrad = true
        (2 * v).backward(gradient: Tensor([1, 0.1, 0.01] as [Float]))
        let vjp = v.grad!                                        // [2, 0.2, 0.02]
        // END README
        expectClose(slopes, try x.doubles().map { Foundation.cos($0) }, tolerance: 1e-5)
        #expect(name == "AddBackward")
        expectClose(vjp, [2, 0.2, 0.02])
    }

    @Test func transforms() throws {
        let (w, b, x) = (Tensor([1, 2] as [Float]), Tensor(Float(0.5)), Tensor([1.5, 2.5] as [Float]))
        // README: transforms
        let f: (Tensor) -> Tensor = { x in (x * x * x + 2 * x * x - 3 * x + 1).sum() }
        let slope = grad(f)(Tensor(Float(1)))                    // 4
        let curvature = grad(grad(f))(Tensor(Float(1)))          // 10
        let h = hessian { x in (x * x).sum() }(Tensor([1, 2, 3] as [Float]))   // 2·I

        let perceptron: (Tensor, Tensor, Tensor) -> Tensor = { w, b, x in w.matmul(x) + b }
        let wb = grad(perceptron, argnums: [0, 1])(w, b, x)      // [x, 1]

        let ste: (Tensor) -> Tensor = { x in x - stopGradient(x) + stopGradient(x.round()) }
        let straightThrough = grad(ste)(Tensor(Float(3.2)))      // 1

        let log1pexp = customJVP({ (1 + $0.exp()).log() }, jvp: { x, t in t * x.sigmoid() })
        // END README
        expectClose(slope, [4])
        expectClose(curvature, [10])
        expectClose(h, [2, 0, 0, 0, 2, 0, 0, 0, 2])
        expectClose(wb[0], [1.5, 2.5])
        expectClose(wb[1], [1])
        expectClose(straightThrough, [1])
        expectClose(grad { (x: Tensor) in log1pexp(x).sum() }(Tensor([0, 2] as [Float])), [0.5, 1 / (1 + Foundation.exp(-2))])
    }

    @Test func vmapAndVectorize() throws {
        let theta = Tensor([0.1, -0.1, 0] as [Float])
        let batchedPrevious = Tensor([[1, 2, -1], [1, 2, -1]] as [[Float]])
        let batchedReward = Tensor([1, 1] as [Float])
        let batchedNext = Tensor([[2, 1, 0], [2, 1, 0]] as [[Float]])
        let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
        let xs = Tensor([[1, 2], [3, 4]] as [[Float]])
        let f: (Tensor) -> Tensor = { x in (x * x * x).sum() }
        // README: vmap
        let tdLoss: (Tensor, Tensor, Tensor, Tensor) -> Tensor = { theta, previous, reward, next in
            (stopGradient(reward + theta.matmul(next)) - theta.matmul(previous)).squared()
        }
        let perExample = vmap(grad(tdLoss), inAxes: (nil, 0, 0, 0))     // θ shared, the rest batched
        let gradients = perExample(theta, batchedPrevious, batchedReward, batchedNext)   // [[-2.4, -4.8, 2.4], [-2.4, -4.8, 2.4]]

        let columnSums = vmap({ (column: Tensor) in column.sum() }, inAxes: -1)(m)   // negative axes: [5, 7, 9]
        let hessians = vmap(hessian(f))(xs)                             // one Hessian per row
        // END README
        expectClose(gradients, [-2.4, -4.8, 2.4, -2.4, -4.8, 2.4], tolerance: 1e-5)
        expectClose(columnSums, [5, 7, 9])
        expectClose(hessians, [6, 0, 0, 12, 18, 0, 0, 24])
    }

    @Test func modulesAndOptimizers() throws {
        let (x, y) = TrainingTests.blobs(on: .cpu)
        try withDevice(.cpu) { () throws in
            // README: modules
            let model = Sequential { Linear(2, 16, seed: 1); relu; Linear(16, 3, seed: 2) }
            let optimizer = Adam(model.vars(), learningRate: 0.05)
            let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
            for _ in 0..<60 {
                let (gradients, _) = gv(x, y)
                optimizer(lr: 0.05, gradients)
            }
            let table = "\(model.vars())"     // Objax's table: names, sizes, shapes
            // END README
            #expect(table.contains("(Sequential)[0](Linear).w") && table.contains("+Total(4)"))
            let accuracy = try (model(x).argmax(axis: 1) .== y).cast(to: .float32).mean().item(as: Float.self)
            #expect(accuracy > 0.95)
        }
    }

    @Test func jitFunctionsAndSteps() throws {
        let (x, y) = TrainingTests.blobs(on: .cpu)
        try withDevice(.cpu) { () throws in
            let model = Sequential { Linear(2, 16, seed: 1); relu; Linear(16, 3, seed: 2) }
            let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
            let opt = Momentum(model.vars(), momentum: 0.9)
            // README: jit
            let power = jit { (x: Tensor, exponent: Int) in x.pow(Double(exponent)).sum() }
            let squares = power(x, static: 2)          // traces; a new exponent retraces
            let gradient = jit(grad { (y: [Tensor]) in (y[0].sin() * y[1]).sum() })   // backward traced too

            let step = Jit({ x, y in
                let (g, v) = gv(x, y)
                opt(lr: 0.1, g)
                return v
            }, vars: gv.vars() + opt.vars())
            let values = step(x, y)                    // forward, backward and update in one program
            // END README
            expectClose(squares, [try (x * x).sum().doubles()[0]], tolerance: 1e-3)
            let pair = gradient([x, x])
            expectClose(pair[0], try (x.cos() * x).doubles(), tolerance: 1e-5)
            guard case .single(let loss) = values else { Issue.record("one value expected"); return }
            #expect(try loss.item(as: Float.self) > 0)
            _ = step(x, y)
            #expect(step.traceCount == 1)
        }
    }

    @Test func devices() throws {
        // README: devices
        let devices = Device.available                    // CPU first, then every OpenCL device (name, vendor, memory, fp64)
        let scoped = withDevice(.cpu) { Tensor.ones([1]).device }   // .cpu, task-local
        let ledger = Device.cpu.ledger                    // launches, bytes moved, compiles, CPU fallbacks, pool hits
        // END README
        #expect(devices.first?.device == .cpu)
        #expect(scoped == .cpu)
        #expect(ledger.launches > 0)
    }

    /// Every line of every Swift block in README.md appears in a `// README` region above.
    @Test func readmeBlocksAreCopiedFromThisFile() throws {
        let here = URL(fileURLWithPath: #filePath)
        let readme = try String(contentsOf: here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: here, encoding: .utf8)
        var regions: [String] = []
        var current: [String]?
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// README:") { current = [] } else if trimmed == "// END README" {
                regions.append((current ?? []).joined(separator: "\n"))
                current = nil
            } else if current != nil { current!.append(trimmed) }
        }
        let blocks = readme.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count == regions.count, "README has \(blocks.count) Swift blocks, this file \(regions.count) regions")
        for block in blocks {
            let lines = block.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let region = regions.first { region in lines.first.map { region.contains($0) } ?? false } ?? ""
            for line in lines { #expect(region.contains(line), "README line not in its test region: \(line)") }
        }
    }
}

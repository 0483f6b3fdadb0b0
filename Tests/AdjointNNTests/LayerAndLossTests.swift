import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// Layers, functional ops, losses and initializers against closed forms, and checkpoint
/// interoperability with the Python `safetensors` package.
@Suite struct LayerAndLossTests {
    @Test(arguments: TestDevices.all)
    func functionalOpsAndLosses(device: Device) throws {
        try withDevice(device) { () throws in
            let x = Tensor([-1, 0, 2] as [Float])
            expectClose(gelu(x), [-1, 0, 2].map { v in 0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) })
            expectClose(oneHot(Tensor([2, 0] as [Int32]), classes: 3), [0, 0, 1, 1, 0, 0])
            let logits = Tensor([[1, 2, 3], [1, 1, 1]] as [[Float]])
            let logSumExp = Foundation.log(Foundation.exp(1.0) + Foundation.exp(2.0) + Foundation.exp(3.0))
            let integer = crossEntropyLogits(logits, Tensor([2, 0] as [Int32]))
            expectClose(integer, [logSumExp - 3, Foundation.log(3.0)])
            let dense = crossEntropyLogits(logits, Tensor([[0, 0, 1], [0.5, 0.5, 0]] as [[Float]]))
            expectClose(dense, try integer.doubles(), tolerance: 1e-5, "one-hot and soft labels")
            let bce = binaryCrossEntropyLogits(Tensor([0, 2, -30] as [Float]), Tensor([1, 0, 0] as [Float]))
            expectClose(bce, [Foundation.log(2.0), 2 + Foundation.log(1 + Foundation.exp(-2.0)), 0], tolerance: 1e-6, "stable for large |x|")
            expectClose(mse(Tensor([[1, 2], [3, 5]] as [[Float]]), Tensor([[1, 0], [3, 3]] as [[Float]])), [2, 2])
            let gradient = grad { (z: Tensor) in crossEntropyLogits(z, Tensor([1] as [Int32])).sum() }(Tensor([[0, 0]] as [[Float]]))
            expectClose(gradient, [0.5, -0.5], "softmax minus one-hot")
        }
    }

    /// The composite the fused integer-label cross-entropy replaces: minus the label's
    /// log-softmax, through autodiff of every op.
    static func compositeCrossEntropy(_ logits: Tensor, _ labels: Tensor) -> Tensor {
        let hits = Functional.oneHot(labels, classes: logits.shape.last!, dtype: logits.dtype)
        return -(logits.logSoftmax(axis: -1) * hits).sum(axes: [-1])
    }

    @Test(arguments: TestDevices.all)
    func integerLabelCrossEntropyDifferentiatesLikeItsComposite(device: Device) throws {
        try withDevice(device) { () throws in
            let shapes: [[Int]] = [[2, 3, 5], [4, 7], [0, 3]]
            for (index, shape) in shapes.enumerated() {
                let logits = (Tensor.randomNormal(shape, seed: UInt64(index)) * 3).cast(to: .float64)
                let labels = Tensor.randomInt(Array(shape.dropLast()), low: 0, high: shape.last!, seed: UInt64(10 + index))
                let cotangent = Tensor.randomNormal(Array(shape.dropLast()), seed: UInt64(20 + index)).cast(to: .float64)
                let loss = { (z: Tensor) in crossEntropyLogits(z, labels) }
                expectClose(loss(logits), try Self.compositeCrossEntropy(logits, labels).doubles(), tolerance: 1e-12, "\(shape)")
                // First order against central differences in float64.
                let (value, pullback) = vjp(loss, logits)
                #expect(value.shape == Array(shape.dropLast()))
                let numerical = try numericalGradients(of: { loss($0[0]) }, at: [logits.doubles()], shapes: [shape], cotangent: cotangent.doubles(), device: device)
                expectClose(pullback(cotangent), numerical[0], tolerance: 1e-6, "\(shape)")
                // Second order (the gradient recorded, then differentiated) and forward mode,
                // against the composite's.
                let direction = Tensor.randomNormal(shape, seed: UInt64(30 + index)).cast(to: .float64)
                let scalar = { (z: Tensor) in (loss(z) * cotangent).sum() }
                let composite = { (z: Tensor) in (Self.compositeCrossEntropy(z, labels) * cotangent).sum() }
                expectClose(hvp(scalar, at: logits, vector: direction), try hvp(composite, at: logits, vector: direction).doubles(), tolerance: 1e-9, "\(shape)")
                expectClose(jvp(loss, primal: logits, tangent: direction).tangent, try jvp({ Self.compositeCrossEntropy($0, labels) }, primal: logits, tangent: direction).tangent.doubles(), tolerance: 1e-9, "\(shape)")
            }
        }
    }

    @Test(arguments: TestDevices.all)
    func integerLabelCrossEntropyBatchesAndRunsInFewLaunches(device: Device) throws {
        try withDevice(device) { () throws in
            let logits = Tensor.randomNormal([6, 4, 10], seed: 1), labels = Tensor.randomInt([6, 4], low: 0, high: 10, seed: 2)
            // vmap over the first axis: each example's losses and gradients as alone.
            let perExample = vmap({ (pair: [Tensor]) in grad { (z: Tensor) in crossEntropyLogits(z, pair[1]).sum() }(pair[0]) }, inAxes: [0, 0])([logits, labels])
            let whole = grad { (z: Tensor) in crossEntropyLogits(z, labels).sum() }(logits)
            expectClose(perExample, try whole.doubles(), tolerance: 1e-6)
            expectClose(whole, try grad { (z: Tensor) in Self.compositeCrossEntropy(z, labels).sum() }(logits).doubles(), tolerance: 1e-6)
            // Eager: the loss's row work is a few fused launches each way (the CPU compares
            // labels in a launch of its own), where its composite took about twenty.
            let leaf = logits.requiringGrad()
            _ = gradients(of: crossEntropyLogits(leaf, labels).sum(), wrt: [leaf])
            try device.synchronize()
            let (loss, forward) = try LaunchCount.counting { () throws -> Tensor in
                let loss = crossEntropyLogits(leaf, labels)
                try device.synchronize()
                return loss
            }
            let seed = Tensor.ones([6, 4])
            try device.synchronize()
            let (_, backward) = try LaunchCount.counting {
                _ = gradients(of: loss, wrt: [leaf], seed: seed)
                try device.synchronize()
            }
            // Forward: the row maximum, the exponentials' sum, the label's logit, the
            // log-sum-exp and the loss (one row kernel with jit's launch-saving passes);
            // backward: one kernel.
            let expected = launchSaving(device) ? (1, 1) : device == .cpu ? (6, 2) : (5, 1)
            #expect(forward == expected.0 && backward == expected.1, "\(forward) and \(backward) launches")
        }
    }

    @Test(arguments: TestDevices.all)
    func embeddingLooksUpRowsAndScattersGradients(device: Device) throws {
        try withDevice(device) { () throws in
            let table = Embedding(4, 2, seed: 1)
            let rows = try table.w.value.doubles()
            let indices = Tensor([[3, 0], [3, 3]] as [[Int32]])
            let looked = table(indices)
            #expect(looked.shape == [2, 2, 2])
            expectClose(looked, [rows[6], rows[7], rows[0], rows[1], rows[6], rows[7], rows[6], rows[7]])
            looked.sum().backward()
            expectClose(table.w.grad!, [1, 1, 0, 0, 0, 0, 3, 3], "row 3 used three times")
        }
    }

    @Test(arguments: TestDevices.all)
    func conv2dLayerMatchesADirectLoop(device: Device) throws {
        try withDevice(device) { () throws in
            let layer = Conv2d(2, 3, kernel: 3, padding: 1, seed: 4)
            let x = Tensor.randomNormal([1, 2, 4, 5], seed: 5)
            let y = layer(x)
            #expect(y.shape == [1, 3, 4, 5])
            let input = try x.doubles(), weights = try layer.w.value.doubles()
            var expected = [Double](repeating: 0, count: 60)
            for o in 0..<3 { for i in 0..<4 { for j in 0..<5 {
                var total = 0.0
                for c in 0..<2 { for p in 0..<3 { for q in 0..<3 {
                    let row = i + p - 1, column = j + q - 1
                    if row >= 0 && row < 4 && column >= 0 && column < 5 {
                        total += input[c * 20 + row * 5 + column] * weights[((o * 2 + c) * 3 + p) * 3 + q]
                    }
                } } }
                expected[o * 20 + i * 5 + j] = total
            } } }
            expectClose(y, expected, tolerance: 1e-5)
            let pooled = MaxPool2d(kernel: 2)(y)
            #expect(pooled.shape == [1, 3, 2, 2])
            #expect(Flatten()(pooled).shape == [1, 12])
        }
    }

    @Test func initializersHaveTheirVarianceAndAreSeeded() throws {
        let glorot = try Initializer.glorotNormal([200, 300], fanIn: 200, fanOut: 300, seed: 1, on: .cpu).doubles()
        let kaiming = try Initializer.kaimingUniform([400, 100], fanIn: 400, seed: 2, on: .cpu).doubles()
        func variance(_ values: [Double]) -> Double {
            let mean = values.reduce(0, +) / Double(values.count)
            return values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        }
        #expect(abs(variance(glorot) - 2.0 / 500) < 0.0004)
        #expect(abs(variance(kaiming) - 2.0 / 400) < 0.0005, "uniform on ±sqrt(6/fanIn) has variance 2/fanIn")
        #expect(kaiming.allSatisfy { abs($0) <= (6.0 / 400).squareRoot() })
        #expect(try Initializer.glorotNormal([3], fanIn: 1, fanOut: 1, seed: 7, on: .cpu).doubles() == Initializer.glorotNormal([3], fanIn: 1, fanOut: 1, seed: 7, on: .cpu).doubles())
        #expect(try Linear(3, 2, seed: 9, on: .cpu).w.value.doubles() == Linear(3, 2, seed: 9, on: .cpu).w.value.doubles())
    }

    /// The Python `safetensors` package reads what `Checkpoint.save` writes.
    @Test func pythonSafetensorsReadsOurCheckpoints() throws {
        let model = Sequential { Linear(3, 2, seed: 1, on: .cpu); relu; Linear(2, 1, seed: 2, on: .cpu) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adjoint-\(UUID().uuidString).safetensors")
        try model.save(to: url)
        let script = """
            import sys, json
            try:
                from safetensors.numpy import load_file
            except ImportError:
                print("MISSING"); sys.exit(0)
            tensors = load_file(sys.argv[1])
            print(json.dumps({k: [list(v.shape), str(v.dtype), [float(x) for x in v.flatten()]] for k, v in tensors.items()}))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            if TestDevices.isCI { Issue.record("python3 is required under CI: \(error)") }
            return
        }
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if output == "MISSING" || output.isEmpty {
            if TestDevices.isCI { Issue.record("the Python safetensors package is required under CI (scripts/install-deps installs it)") }
            print("note: Python safetensors not installed; interoperability not checked")
            return
        }
        let decoded = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [Any]]
        #expect(Set(decoded.keys) == Set(model.vars().names))
        for (name, variable) in model.vars() {
            let entry = decoded[name]!
            #expect(entry[0] as? [Int] == variable.value.shape)
            #expect(entry[1] as? String == "float32")
            expectClose((entry[2] as! [Double]), try variable.value.doubles(), tolerance: 1e-7)
        }
    }
}

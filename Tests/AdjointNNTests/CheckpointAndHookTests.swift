import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// Safetensors checkpoints, module hooks, random state.
@Suite struct CheckpointAndHookTests {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("adjoint-\(UUID().uuidString)").appendingPathComponent(name)
    }

    @Test func saveAndLoadRoundTripModuleAndOptimizer() throws {
        let model = Sequential { Linear(3, 4, seed: 1, on: .cpu); relu; Linear(4, 2, seed: 2, on: .cpu) }
        let optimizer = Adam(model.vars())
        optimizer(lr: 0.01, model.vars().tensors().map { Tensor.ones(like: $0) })
        let url = temporaryURL("model.safetensors")
        try model.save(to: url, optimizer: optimizer)
        let copy = Sequential { Linear(3, 4, seed: 8, on: .cpu); relu; Linear(4, 2, seed: 9, on: .cpu) }
        let copyOptimizer = Adam(copy.vars())
        try copy.load(from: url, optimizer: copyOptimizer)
        for (a, b) in zip(model.vars().tensors(), copy.vars().tensors()) { #expect(try a.doubles() == b.doubles()) }
        #expect(copyOptimizer.steps.count == 1)
        #expect(try copyOptimizer.m[0].value.doubles() == optimizer.m[0].value.doubles())
        let raw = try Data(contentsOf: url)
        let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: raw.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let entry = header["(Sequential)[0](Linear).w"] as! [String: Any]
        #expect(entry["dtype"] as? String == "F32")
        #expect(entry["shape"] as? [Int] == [3, 4])
        #expect(headerLength % 8 == 0)
    }

    @Test func truncatedCorruptOrMismatchedFilesThrowAndLeaveTheModuleUnchanged() throws {
        let model = Linear(3, 4, seed: 1, on: .cpu)
        let url = temporaryURL("model.safetensors")
        try model.save(to: url)
        let target = Linear(3, 4, seed: 5, on: .cpu)
        let before = try target.vars().tensors().map { try $0.doubles() }
        let full = try Data(contentsOf: url)
        let broken = [
            ("truncated", full.prefix(full.count - 10)),
            ("no header", full.prefix(4)),
            ("corrupt header", Data(full.prefix(8)) + Data(repeating: 0x7B, count: full.count - 8)),
        ]
        for (label, data) in broken {
            try data.write(to: url)
            #expect(throws: AdjointError.self, "\(label)") { try target.load(from: url) }
            #expect(try target.vars().tensors().map { try $0.doubles() } == before, "\(label) left the module unchanged")
        }
        try full.write(to: url)
        #expect(throws: AdjointError.self) { try Linear(3, 5, on: .cpu).load(from: url) }
        do {
            try Linear(3, 5, on: .cpu).load(from: url)
        } catch let error as AdjointError {
            #expect(error.description.contains("(Linear).b"))
            #expect(error.description.contains("[4]") && error.description.contains("[5]"))
        }
        #expect(throws: AdjointError.self) { try target.load(from: url.appendingPathExtension("missing")) }
    }

    @Test func forwardAndFullBackwardHooks() throws {
        let layer = Linear(2, 2, seed: 1, on: .cpu)
        var seenInput: [Double] = []
        layer.registerForwardHook { _, input, output in
            seenInput = (try? input.doubles()) ?? []
            return output * 2
        }
        var gradIn: [Double]? = nil, gradOut: [Double] = []
        layer.registerFullBackwardHook { _, gradInput, gradOutput in
            gradIn = try? gradInput?.doubles()
            gradOut = (try? gradOutput.doubles()) ?? []
        }
        let x = Tensor([[1, 2]] as [[Float]], on: .cpu).requiringGrad()
        let y = layer(x)
        #expect(seenInput == [1, 2])
        (y * Tensor([[3, 4]] as [[Float]], on: .cpu)).sum().backward()
        #expect(gradOut == [3, 4])
        let w = try layer.w.value.doubles()
        expectClose(gradIn ?? [], [2 * (3 * w[0] + 4 * w[1]), 2 * (3 * w[2] + 4 * w[3])], "grad_in includes the hook's doubling")
    }

    @Test func randomStateAndKeysAreReproducibleOnEveryDevice() throws {
        let state = RandomState(seed: 7)
        let first = try state.normal([5], on: .cpu).doubles()
        let saved = state.value
        let second = try state.normal([5], on: .cpu).doubles()
        #expect(first != second)
        state.assign(saved)
        #expect(try state.normal([5], on: .cpu).doubles() == second, "restoring the state replays the stream")
        let key = RandomKey(42)
        let (a, b) = (key.split()[0], key.split()[1])
        #expect(a != b && key.split() == key.split())
        #expect(key.fold(1) != key.fold(2))
        let permutation = try key.permutation(10, on: .cpu).scalars(as: Int32.self)
        #expect(permutation.sorted() == Array(0..<10))
        for device in TestDevices.all {
            #expect(try key.uniform([6], on: device).doubles() == key.uniform([6], on: .cpu).doubles())
            #expect(try key.randint([20], low: 0, high: 5, on: device).scalars(as: Int32.self) == key.randint([20], low: 0, high: 5, on: .cpu).scalars(as: Int32.self))
            let bits = try key.bernoulli([1000], probability: 0.3, on: device).scalars(as: Bool.self)
            #expect(abs(Double(bits.filter { $0 }.count) / 1000 - 0.3) < 0.05)
        }
    }

    @Test func dropoutAndBatchNormFollowTrainAndEval() throws {
        let model = Sequential { Dropout(rate: 0.5, seed: 1); BatchNorm(3, axis: 1, on: .cpu) }
        let x = Tensor([[1, 2, 3], [3, 6, 9]] as [[Float]], on: .cpu)
        model.train()
        let trained = try model(x).doubles()
        #expect(trained.contains { $0 != 0 })
        model.eval()
        let evaluated = try model(x).doubles()
        let norm = model.layers[1] as! BatchNorm
        let mean = try norm.runningMean.value.doubles(), variance = try norm.runningVariance.value.doubles()
        let expected = (0..<6).map { i -> Double in
            let value = [1.0, 2, 3, 3, 6, 9][i]
            return (value - mean[i % 3]) / (variance[i % 3] + 1e-5).squareRoot()
        }
        expectClose(evaluated, expected, tolerance: 1e-5)
        #expect(try model(x).doubles() == evaluated, "evaluation is deterministic")
    }
}

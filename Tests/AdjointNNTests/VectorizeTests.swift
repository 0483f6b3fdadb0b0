import Adjoint
import AdjointNN
import AdjointTestSupport
import Testing

/// Objax's `Vectorize`: the batched MAML loss of the gradients guide and its meta-gradient
/// against the loop over task pairs; a vectorized layer against per-example calls.
@Suite struct VectorizeTests {
    @Test(arguments: TestDevices.all)
    func batchedMAMLLossAndGradientEqualTheLoopOverPairs(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Linear(3, 1, seed: 21)
            let loss: (Tensor, Tensor) -> Tensor = { x, y in (model(x) - y).squared().mean() }
            let gv = GradValues({ x, y in .single(loss(x, y)) }, vars: model.vars())
            let trainVars = gv.vars().trainVars
            // Objax's nested_loss: one SGD step on (x2, y2), the loss on (x1, y1) with the
            // adapted weights, the weights restored. Setting `value` keeps the step differentiable.
            let nestedLoss: ([Tensor]) -> Tensor = { inputs in
                let (x1, y1, x2, y2, mu) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4])
                let original = trainVars.map(\.value)
                let (g, _) = gv(x2, y2)
                for (variable, (value, gradient)) in zip(trainVars, zip(original, g)) { variable.value = value - mu * gradient }
                let result = loss(x1, y1)
                for (variable, value) in zip(trainVars, original) { variable.value = value }
                return result
            }
            let tasks = 5
            let x1 = Tensor.randomNormal([tasks, 4, 3], seed: 1), y1 = Tensor.randomNormal([tasks, 4, 1], seed: 2)
            let x2 = Tensor.randomNormal([tasks, 4, 3], seed: 3), y2 = Tensor.randomNormal([tasks, 4, 1], seed: 4)
            let mu = Tensor(Float(0.1))

            let batched = Vectorize(nestedLoss, vars: gv.vars(), batchAxis: [0, 0, 0, 0, nil])
            #expect(batched.vars().names == model.vars().names, "vars() pass the wrapped variables through")
            let perTask = batched(x1, y1, x2, y2, mu)
            #expect(perTask.shape == [tasks])
            let looped = Tensor.stack((0..<tasks).map { nestedLoss([x1[$0], y1[$0], x2[$0], y2[$0], mu]) })
            expectClose(perTask, try looped.doubles(), tolerance: 1e-5, "per-task losses")

            let batchedGV = GradValues({ inputs in .single(batched(inputs).mean()) }, vars: batched.vars())
            let loopGV = GradValues({ inputs in
                .single(Tensor.stack((0..<tasks).map { nestedLoss([inputs[0][$0], inputs[1][$0], inputs[2][$0], inputs[3][$0], inputs[4]]) }).mean())
            }, vars: model.vars())
            let (batchedGradients, batchedValues) = batchedGV([x1, y1, x2, y2, mu])
            let (loopGradients, loopValues) = loopGV([x1, y1, x2, y2, mu])
            guard case .single(let batchedLoss) = batchedValues, case .single(let loopLoss) = loopValues else {
                Issue.record("GradValues returned several values")
                return
            }
            expectClose(batchedLoss, try loopLoss.doubles(), tolerance: 1e-5, "mean meta-loss")
            #expect(batchedGradients.count == 2)
            for (batchedGradient, loopGradient) in zip(batchedGradients, loopGradients) {
                expectClose(batchedGradient, try loopGradient.doubles(), tolerance: 1e-5, "meta-gradient")
            }
            let firstOrder = GradValues({ inputs in .single(loss(inputs[0], inputs[1])) }, vars: model.vars())([x1, y1]).gradients
            #expect(try batchedGradients[0].doubles() != firstOrder[0].doubles(), "the inner step is differentiated through")
        }
    }

    @Test(arguments: TestDevices.all)
    func vectorizedLayerEqualsPerExampleCalls(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Sequential { Linear(4, 6, seed: 1); relu; Linear(6, 2, seed: 2) }
            let vectorized = Vectorize(model, batchAxis: 1)
            #expect(vectorized.vars().names == model.vars().names)
            let x = Tensor.randomNormal([4, 7], seed: 3)
            let output = vectorized(x)
            #expect(output.shape == [7, 2])
            for example in 0..<7 {
                expectClose(output[example], try model(x[.all, example]).doubles(), tolerance: 1e-5, "example \(example)")
            }
        }
    }
}

import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// Objax's module and gradient guide, reproduced.
@Suite struct ModuleTests {
    @Test func varsPrintoutNamesThePath() {
        let model = Sequential { Linear(2, 3, seed: 1, on: .cpu); relu; Linear(3, 4, seed: 2, on: .cpu) }
        let expected = """
            (Sequential)[0](Linear).b        3 (3,)
            (Sequential)[0](Linear).w        6 (2, 3)
            (Sequential)[2](Linear).b        4 (4,)
            (Sequential)[2](Linear).w       12 (3, 4)
            +Total(4)                       25
            """
        #expect(model.vars().description == expected)
        #expect(Linear(2, 3, on: .cpu).vars().names == ["(Linear).b", "(Linear).w"])
    }

    @Test func nestedModulesAndModuleLists() {
        final class Model: Module, @unchecked Sendable {
            let encoder = Linear(4, 8, on: .cpu)
            let heads = ModuleList([Linear(8, 2, on: .cpu), Linear(8, 3, on: .cpu)])
            let norm = BatchNorm(8, on: .cpu)
        }
        let names = Model().vars().names
        #expect(names.contains("(Model).encoder(Linear).w"))
        #expect(names.contains("(Model).heads(ModuleList)[1](Linear).b"))
        #expect(names.contains("(Model).norm(BatchNorm).runningMean"))
    }

    @Test func varCollectionOperations() throws {
        let model = Sequential { Linear(2, 3, on: .cpu); BatchNorm(3, on: .cpu) }
        let vars = model.vars()
        #expect(vars.count == 6)
        #expect(vars.subset(TrainVar.self).count == 4)
        #expect(vars.subset(StateVar.self).count == 2)
        #expect(vars.filter(containing: "Linear").count == 2)
        #expect(vars.excluding("[0]").count == 4)
        #expect((vars.filter(containing: "Linear") + vars.filter(containing: "BatchNorm")).count == 6)
        #expect(vars.tensors().count == 6)
        let linear = vars.filter(containing: "Linear")
        linear.assign([Tensor.ones([3], on: .cpu), Tensor.full([2, 3], 2, on: .cpu)])
        #expect(try model.layers[0].vars().tensors()[1].doubles() == [2, 2, 2, 2, 2, 2])
        // A variable in both collections appears once.
        let both = linear + vars
        #expect(both.count == 6 && Array(both.names.prefix(2)) == linear.names)
        #expect(zip(both.entries, linear.entries).allSatisfy { $0.variable === $1.variable })
    }

    @Test func twoVariablesOfOneNameStopWithAMessage() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Linear(2, 3, on: .cpu).vars() + Linear(2, 3, on: .cpu).vars()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("AdjointNN.VarCollection: two different variables named (Linear).b"), "\(message)")
        }
    }

    @Test(arguments: TestDevices.all)
    func gradValuesValueEqualsTheLossAndSharesVariables(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Linear(2, 3, seed: 3)
            let x = Tensor([[1, 2], [3, 4]] as [[Float]]), y = Tensor([0, 2] as [Int32])
            let loss: (Tensor, Tensor) -> LossValues = { x, y in .single(crossEntropyLogits(model(x), y).mean()) }
            let gv = GradValues(loss, vars: model.vars())
            let (gradients, values) = gv(x, y)
            guard case .single(let value) = values, case .single(let direct) = loss(x, y) else { Issue.record("shape of values"); return }
            expectClose(value, try direct.doubles())
            #expect(gradients.count == 2)
            #expect(gv.vars().variables.elementsEqual(model.vars().variables) { $0 === $1 }, "GradValues shares the model's variables")
            let flat = try x.doubles()
            let fd = try numericalGradients(of: { t in
                let m = Linear(2, 3); m.w.assign(t[0].cast(to: .float32)); m.b!.assign(t[1].cast(to: .float32))
                return crossEntropyLogits(m(x), y).mean().cast(to: .float64)
            }, at: [try model.w.value.doubles(), try model.b!.value.doubles()], shapes: [[2, 3], [3]], cotangent: [1], device: device, epsilon: 1e-3)
            expectClose(gradients[1], fd[0], tolerance: 2e-3, "dw")
            expectClose(gradients[0], fd[1], tolerance: 2e-3, "db")
            _ = flat
        }
    }

    @Test(arguments: TestDevices.all)
    func inputArgnumsInAllFourForms(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Linear(2, 1, seed: 4)
            let x = Tensor([[1, -1]] as [[Float]]), target = Tensor([[0.5]] as [[Float]])
            let loss: (Tensor, Tensor) -> LossValues = { x, t in .single(((model(x) - t).squared()).mean()) }
            let residual = try (model(x) - target).doubles()[0]
            let w = try model.w.value.doubles()
            let dx = w.map { 2 * residual * $0 }
            let none = GradValues(loss, vars: model.vars())(x, target).gradients
            #expect(none.count == 2)
            let first = GradValues(loss, vars: model.vars(), inputArgnums: [0])(x, target).gradients
            #expect(first.count == 3)
            expectClose(first[0], dx)
            let second = GradValues(loss, vars: model.vars(), inputArgnums: [1])(x, target).gradients
            expectClose(second[0], [-2 * residual])
            let both = GradValues(loss, vars: model.vars(), inputArgnums: [1, 0])(x, target).gradients
            #expect(both.count == 4)
            expectClose(both[0], [-2 * residual], "order given is order returned")
            expectClose(both[1], dx)
            let inputsOnly = GradValues(loss, vars: VarCollection(), inputArgnums: [0])(x, target).gradients
            #expect(inputsOnly.count == 1)
            expectClose(inputsOnly[0], dx)
        }
    }

    @Test func severalValuesAndDictionariesPassThrough() throws {
        let model = Linear(2, 1, seed: 5, on: .cpu)
        let x = Tensor([[1, 2]] as [[Float]], on: .cpu)
        let several = GradValues({ x, _ in
            let out = model(x).sum()
            return .several([out * 2, out])
        }, vars: model.vars())
        let (g1, v1) = several(x, x)
        guard case .several(let values) = v1 else { Issue.record("expected several"); return }
        expectClose(values[0], [2 * (try values[1].doubles()[0])])
        expectClose(g1[1], [2, 4], "only the first value is differentiated: d(2·xw)/dw = 2x")
        let named = GradValues({ x, _ in
            let out = model(x).sum()
            return .named(["loss": out, "doubled": out * 2], primary: "loss")
        }, vars: model.vars())
        let (g2, v2) = named(x, x)
        guard case .named(let dictionary, _) = v2 else { Issue.record("expected named"); return }
        #expect(dictionary.keys.sorted() == ["doubled", "loss"])
        expectClose(g2[1], [1, 2])
    }

    @Test func freezingALayerByFilteringNames() {
        let model = Sequential { Linear(2, 3, seed: 1, on: .cpu); relu; Linear(3, 4, seed: 2, on: .cpu) }
        let trainable = model.vars().excluding("[2](Linear)")
        let gv = GradValues({ x, _ in .single(model(x).squared().sum()) }, vars: trainable)
        let (gradients, _) = gv(Tensor([[1, 2]] as [[Float]], on: .cpu), Tensor.zeros([1], on: .cpu))
        #expect(gradients.count == 2)
        #expect(gv.vars().names == ["(Sequential)[0](Linear).b", "(Sequential)[0](Linear).w"])
    }

    @Test(arguments: TestDevices.all)
    func classifierTrainedByHandWrittenSGDLowersItsLoss(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Sequential { Linear(2, 3, seed: 11); relu; Linear(3, 4, seed: 12) }
            let x = Tensor.randomNormal([32, 2], seed: 5)
            let labels = (x[.all, 0] .> 0).cast(to: .int32) + 2 * (x[.all, 1] .> 0).cast(to: .int32)
            let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
            let refs = model.vars().trainVars.map(TrainRef.init)
            var losses: [Float] = []
            for _ in 0..<60 {
                let (gradients, values) = gv(x, labels)
                guard case .single(let loss) = values else { return }
                losses.append(try loss.item())
                for (ref, gradient) in zip(refs, gradients) { ref.value = ref.value - 0.5 * gradient }
            }
            #expect(losses.last! < losses.first! * 0.7, "loss \(losses.first!) -> \(losses.last!)")
        }
    }

    @Test(arguments: TestDevices.all)
    func nestedLossEqualsTheSimplifiedVersion(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Linear(3, 1, seed: 21)
            let x1 = Tensor.randomNormal([4, 3], seed: 1), y1 = Tensor.randomNormal([4, 1], seed: 2)
            let x2 = Tensor.randomNormal([4, 3], seed: 3), y2 = Tensor.randomNormal([4, 1], seed: 4)
            let mu = 0.1
            let loss: (Tensor, Tensor) -> Tensor = { x, y in (model(x) - y).squared().mean() }
            let gv = GradValues({ x, y in .single(loss(x, y)) }, vars: model.vars())
            let nested: () -> Tensor = {
                let original = model.vars().tensors()
                let (g, _) = gv(x2, y2)
                model.vars().assign(zip(original, g).map { $0 - mu * $1 })
                let result = loss(x1, y1)
                model.vars().assign(original)
                return result
            }
            let w = model.w.value, b = model.b!.value
            let simplified: ([Tensor]) -> Tensor = { p in
                let (a1, b1, a2, b2) = (x1.cast(to: p[0].dtype), y1.cast(to: p[0].dtype), x2.cast(to: p[0].dtype), y2.cast(to: p[0].dtype))
                let g = grad({ (q: [Tensor]) in ((a2.matmul(q[0]) + q[1] - b2).squared()).mean() })([p[0], p[1]])
                return ((a1.matmul(p[0] - mu * g[0]) + (p[1] - mu * g[1]) - b1).squared()).mean()
            }
            expectClose(nested(), try simplified([w, b]).doubles(), tolerance: 1e-5)
            let analytic = grad(simplified)([w.cast(to: .float64), b.cast(to: .float64)])
            let numeric = try numericalGradients(of: { p in simplified(p) }, at: [try w.doubles(), try b.doubles()], shapes: [[3, 1], [1]], cotangent: [1], device: device)
            expectClose(analytic[0], numeric[0], tolerance: 1e-6)
            expectClose(analytic[1], numeric[1], tolerance: 1e-6)
        }
    }
}

import Adjoint
import AdjointTestSupport
import Testing

/// Every op in the registry: VJP against float64 central differences (broadcasting
/// included through the registry's shapes), second derivatives through `createGraph`
/// for smooth ops, on every device.
@Suite struct GradientCheckTests {
    typealias Case = OpCase

    static var cases: [Case] { OpCase.all }

    @Test(arguments: cases)
    func vjpMatchesFiniteDifferences(_ testCase: Case) throws {
        let op = testCase.op, device = testCase.device
        var data = TestData(seed: UInt64(op.name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        for shapes in op.shapes {
            let values = shapes.map { data.values($0.reduce(1, *), domain: op.domain) }
            let inputs = zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float64, on: device).requiringGrad() }
            let output = op.apply(inputs)
            let cotangent = data.values(output.count, domain: .any)
            let seed = Tensor(doubles: cotangent, shape: output.shape, dtype: .float64, on: device)
            let analytic = gradients(of: output, wrt: inputs, seed: seed)
            let numeric = try numericalGradients(of: op.apply, at: values, shapes: shapes, cotangent: cotangent, device: device)
            for index in inputs.indices {
                #expect(analytic[index].shape == shapes[index], "\(op.name) input \(index) gradient shape")
                if op.zeroGradient {
                    expectClose(analytic[index], [Double](repeating: 0, count: values[index].count), "\(op.name) \(shapes)")
                } else {
                    expectClose(analytic[index], numeric[index], tolerance: 1e-6, "\(op.name) input \(index) shapes \(shapes) on \(device)")
                }
            }
        }
    }

    @Test(arguments: cases.filter { $0.op.smooth && !$0.op.zeroGradient })
    func secondDerivativesMatchFiniteDifferences(_ testCase: Case) throws {
        let op = testCase.op, device = testCase.device
        var data = TestData(seed: 7 &+ UInt64(op.name.utf8.count))
        let shapes = op.shapes[op.shapes.count - 1]
        let values = shapes.map { data.values($0.reduce(1, *), domain: op.domain) }
        let outputCount = noGrad { op.apply(zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float64, on: device) }) }.count
        let cotangent = data.values(outputCount, domain: .any)
        // h(x) = first input's gradient of <v, f(x)>: differentiate it again.
        let gradientOfFirst: @Sendable ([Tensor]) -> Tensor = { tensors in
            let inputs = tensors.map { $0.requiresGrad ? $0 : $0.requiringGrad() }
            let output = op.apply(inputs)
            let seed = Tensor(doubles: cotangent, shape: output.shape, dtype: .float64, on: device)
            return gradients(of: output, wrt: [inputs[0]], seed: seed, createGraph: true)[0]
        }
        let inputs = zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float64, on: device).requiringGrad() }
        let first = gradientOfFirst(inputs)
        let outer = data.values(first.count, domain: .any)
        let analytic = gradients(of: first, wrt: inputs, seed: Tensor(doubles: outer, shape: first.shape, dtype: .float64, on: device))
        let numeric = try numericalGradients(
            of: { tensors in enableGrad { gradientOfFirst(tensors) } }, at: values, shapes: shapes, cotangent: outer, device: device, epsilon: 1e-5)
        for index in inputs.indices {
            expectClose(analytic[index], numeric[index], tolerance: 1e-5, "\(op.name) second derivative, input \(index), on \(device)")
        }
    }
}

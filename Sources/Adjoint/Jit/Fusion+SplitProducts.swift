/// A backend that splits products with few outputs along k and can leave the partial
/// products for their readers to sum (OpenCL).
protocol SplitProductBackend: Backend {
    /// Into how many partial products the backend runs the product of these views (1: none).
    func gemmParts(a: Layout, b: Layout, output: Layout, dtype: DType) throws -> Int
    /// The product of `a` and `b`; with `keepPartials`, its partial products `[parts, m, n]`.
    func matmul(_ a: BufferView, _ b: BufferView, output: BufferView, keepPartials: Bool) throws
}

extension OpenCLBackend: SplitProductBackend {}

extension JitGraph {
    /// A product the backend splits along k (a GEMM with few output tiles) keeps its partial
    /// products when every reader is a fused kernel: each reader loads their sum where it
    /// loaded the product, and the separate sum's launch goes. W3 at batch 128 on a GPU
    /// splits five products. Returns the launches removed.
    @discardableResult
    mutating func sumPartialProductsInReaders(_ backend: SplitProductBackend) -> Int {
        let readers = readers(), pinned = outputBuffers, writers = writers()
        var removed = 0
        for m in steps.indices {
            guard case .matmul? = steps[m].primitive, steps[m].dtype == .float32, steps[m].inputs.count == 2 else { continue }
            let product = steps[m].output
            let readsProduct = { (operand: JitOperand) in operand.bufferID == product }
            guard !pinned.contains(product), writers[product] == [m], steps[m].coversOutput(of: buffers[product]), !readers[product].isEmpty,
                  readers[product].allSatisfy({ reader in
                      guard case .fused(let kernel) = steps[reader].kernel else { return false }
                      // An epilogue reads at the output's index, not the elements'.
                      return !kernel.epilogue.contains { node in
                          if case .load(let k) = node, k >= 0 { return readsProduct(steps[reader].inputs[k]) }
                          return false
                      }
                  }),
                  let parts = try? backend.gemmParts(a: steps[m].inputs[0].layout, b: steps[m].inputs[1].layout, output: steps[m].layout, dtype: .float32),
                  parts > 1
            else { continue }
            let stride = buffers[product].count
            buffers[product].count = parts * stride
            steps[m].partialProducts = parts
            for reader in readers[product] {
                guard case .fused(var kernel) = steps[reader].kernel else { continue }
                kernel.nodes = kernel.nodes.map { node in
                    if case .load(let k) = node, readsProduct(steps[reader].inputs[k]) { return .loadSum(k, slices: parts, stride: stride) }
                    return node
                }
                steps[reader].kernel = .fused(kernel)
            }
            removed += 1
        }
        return removed
    }
}

/// An n-dimensional array on a device, with optional gradient tracking.
///
/// `Tensor` is a value: ops return new tensors and never modify their inputs. Views
/// (reshape, permute, expand, slices) share memory without copying. A tensor that
/// `requiresGrad` is a *leaf* of the autodiff graph; results of differentiable ops on it
/// carry a `gradFn`, and `backward()` accumulates into the leaf's `grad`.
///
/// ```swift
/// var x = Tensor([1, 2, 3] as [Float])
/// x.requiresGrad = true
/// let y = (x * x).sum()
/// y.backward()
/// print(x.grad!)   // [2, 4, 6]
/// ```
public struct Tensor: @unchecked Sendable {
    let storage: Storage
    /// Where the elements sit in `storage`.
    var layout: Layout
    /// The autodiff node: the op that made this tensor, or the leaf accumulator.
    var node: GradNode?
    /// Inside `vmap`: the batched data behind this per-example view (nil otherwise).
    /// `storage` and `layout` then describe example 0 only; ops take the batching rule.
    var batch: BatchBox?

    init(storage: Storage, layout: Layout, node: GradNode? = nil, batch: BatchBox? = nil) {
        self.storage = storage
        self.layout = layout
        self.node = node
        self.batch = batch
    }

    /// Extent of each axis (`[]` for a scalar).
    public var shape: [Int] { layout.shape }
    /// Number of axes.
    public var rank: Int { layout.rank }
    /// Number of elements.
    public var count: Int { layout.count }
    /// Element type.
    public var dtype: DType { storage.dtype }
    /// The device holding the data.
    public var device: Device { storage.device }

    /// The environment error that prevented this tensor from being computed, if any
    /// (reading its values throws it).
    public var failure: AdjointError? { storage.failure }

    /// The same data with no autodiff history (at any vmap level).
    var value: Tensor {
        guard let batch else { return Tensor(storage: storage, layout: layout) }
        return Tensor(storage: storage, layout: layout, batch: BatchBox(physical: batch.physical.value, level: batch.level))
    }
}

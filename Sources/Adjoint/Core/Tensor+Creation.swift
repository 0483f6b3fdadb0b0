import Foundation

/// Tensors made from host values and constant patterns.
extension Tensor {
    /// A tensor from a flat array, reshaped to `shape` (default: 1-D).
    ///
    /// ```swift
    /// let m = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    /// ```
    public init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil, on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) {
        let shape = shape ?? [values.count]
        check(shape.allSatisfy { $0 >= 0 }, "Tensor.init", "negative extent in shape \(shape)", file: file, line: line)
        check(shape.reduce(1, *) == values.count, "Tensor.init", "\(values.count) values cannot have shape \(shape)", file: file, line: line)
        let device = device ?? Device.default
        let storage: Storage
        if T.self == Bool.self {
            let bytes = values.map { ($0 as! Bool) ? UInt8(1) : UInt8(0) }
            storage = bytes.withUnsafeBytes { Dispatch.upload($0, dtype: .bool, device: device) }
        } else {
            storage = values.withUnsafeBytes { Dispatch.upload($0, dtype: T.dtype, device: device) }
        }
        self.init(storage: storage, layout: Layout(contiguous: shape))
    }

    /// A rank-0 tensor holding `value`.
    public init<T: TensorScalar>(_ value: T, on device: Device? = nil) {
        self.init([value], shape: [], on: device)
    }

    /// A 2-D tensor from rows of equal length.
    public init<T: TensorScalar>(_ rows: [[T]], on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) {
        let width = rows.first?.count ?? 0
        check(rows.allSatisfy { $0.count == width }, "Tensor.init", "rows have different lengths \(rows.map(\.count))", file: file, line: line)
        self.init(rows.flatMap { $0 }, shape: [rows.count, width], on: device, file: file, line: line)
    }

    /// A 3-D tensor from nested arrays of equal lengths.
    public init<T: TensorScalar>(_ planes: [[[T]]], on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) {
        let rows = planes.first?.count ?? 0
        let width = planes.first?.first?.count ?? 0
        check(planes.allSatisfy { $0.count == rows && $0.allSatisfy { $0.count == width } }, "Tensor.init", "nested arrays are ragged", file: file, line: line)
        self.init(planes.flatMap { $0.flatMap { $0 } }, shape: [planes.count, rows, width], on: device, file: file, line: line)
    }

    /// A tensor of `shape` with every element `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(shape.allSatisfy { $0 >= 0 }, "full", "negative extent in shape \(shape)", file: file, line: line)
        let device = device ?? Device.default
        let storage = Dispatch.allocate(count: shape.reduce(1, *), dtype: dtype, device: device)
        let layout = Layout(contiguous: shape)
        return Tensor(storage: Dispatch.run(.fill(value), [], into: storage, layout: layout), layout: layout)
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, on device: Device? = nil) -> Tensor {
        full(shape, 0, dtype: dtype, on: device)
    }

    /// Ones of `shape`.
    public static func ones(_ shape: [Int], dtype: DType = .float32, on device: Device? = nil) -> Tensor {
        full(shape, 1, dtype: dtype, on: device)
    }

    /// Zeros with the shape, dtype and device of `other`.
    public static func zeros(like other: Tensor) -> Tensor { full(other.shape, 0, dtype: other.dtype, on: other.device) }

    /// Ones with the shape, dtype and device of `other`.
    public static func ones(like other: Tensor) -> Tensor { full(other.shape, 1, dtype: other.dtype, on: other.device) }

    /// `value` with the shape, dtype and device of `other`.
    public static func full(like other: Tensor, _ value: Double) -> Tensor { full(other.shape, value, dtype: other.dtype, on: other.device) }

    /// Evenly spaced values in `[start, end)` with step `step`, as numpy's `arange`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32, on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(step != 0, "arange", "step must not be 0", file: file, line: line)
        let count = Swift.max(0, Int((((end - start) / step)).rounded(.up)))
        let values = (0..<count).map { start + Double($0) * step }
        return Tensor(doubles: values, shape: [count], dtype: dtype, on: device)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive, as numpy's `linspace`.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32, on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(count >= 0, "linspace", "count must be non-negative, got \(count)", file: file, line: line)
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        let values = (0..<count).map { $0 == count - 1 && count > 1 ? end : start + Double($0) * step }
        return Tensor(doubles: values, shape: [count], dtype: dtype, on: device)
    }

    /// A tensor of any dtype from double values (converted).
    public init(doubles values: [Double], shape: [Int], dtype: DType, on device: Device? = nil) {
        switch dtype {
        case .float32: self.init(values.map { Float($0) }, shape: shape, on: device)
        case .float64: self.init(values, shape: shape, on: device)
        case .int32: self.init(values.map { Int32($0) }, shape: shape, on: device)
        case .bool: self.init(values.map { $0 != 0 }, shape: shape, on: device)
        }
    }

    /// A rank-0 constant of `dtype` on `device`, shared between uses (storage is
    /// immutable): a recent value costs no allocation or upload (the cache holds up to
    /// 1024). What `x * 2` multiplies by; also a cheap scalar input for a jitted function.
    public static func constant(_ value: Double, dtype: DType = .float32, on device: Device) -> Tensor {
        ConstantCache.shared.tensor(value, dtype: dtype, device: device)
    }

    /// `0, 1, …, count − 1` as int32 on `device`, made once per count and device and shared
    /// (never written): what a label or an index is compared with to build a one-hot mask
    /// without uploading the range each call.
    ///
    /// ```swift
    /// let hits = labels.unsqueezed(axis: -1) .== Tensor.indices(10, on: labels.device)   // [B, 10] bool
    /// ```
    public static func indices(_ count: Int, on device: Device) -> Tensor {
        precondition(count >= 0, "Adjoint.indices: negative count \(count)")
        return ConstantCache.shared.indices(count, device: device)
    }
}

/// Small cache of rank-0 constants so `x * 2` does not allocate and fill each time, and of
/// index ranges (`Tensor.indices`).
final class ConstantCache: @unchecked Sendable {
    static let shared = ConstantCache()
    private struct Key: Hashable {
        let bits: UInt64
        let dtype: DType
        let device: Device
    }
    private let lock = NSLock()
    private var entries: [Key: Tensor] = [:]

    func tensor(_ value: Double, dtype: DType, device: Device) -> Tensor {
        let key = Key(bits: value.bitPattern, dtype: dtype, device: device)
        lock.lock()
        defer { lock.unlock() }
        if let cached = entries[key] { return cached }
        // Made eagerly even inside a jit trace: the cache outlives the trace.
        let made = Tracer.$current.withValue(nil) { Tensor.full([], value, dtype: dtype, on: device) }
        if made.failure != nil { return made }
        made.storage.constantValue = value
        if entries.count > 1024 { entries.removeAll() }
        entries[key] = made
        return made
    }

    private struct RangeKey: Hashable {
        let count: Int
        let device: Device
    }
    private var ranges: [RangeKey: Tensor] = [:]

    func indices(_ count: Int, device: Device) -> Tensor {
        let key = RangeKey(count: count, device: device)
        lock.lock()
        defer { lock.unlock() }
        if let cached = ranges[key] { return cached }
        // Made eagerly even inside a jit trace, like the scalars: the cache outlives it.
        let made = Tracer.$current.withValue(nil) { Tensor((0..<count).map { Int32($0) }, shape: [count], on: device) }
        if made.failure != nil { return made }
        if ranges.count > 256 { ranges.removeAll() }
        ranges[key] = made
        return made
    }
}

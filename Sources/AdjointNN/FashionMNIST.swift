import Adjoint
import Foundation

/// Labeled 28×28 grayscale images held on the host.
public struct LabeledImages: Sendable {
    /// Pixels, row-major `[count, rows, columns]`, 0...255.
    public let pixels: [UInt8]
    /// Class labels, one per image.
    public let labels: [UInt8]
    /// Image height.
    public let rows: Int
    /// Image width.
    public let columns: Int

    /// Images (row-major pixels, `rows × columns` each) with one label per image.
    public init(pixels: [UInt8], labels: [UInt8], rows: Int, columns: Int) {
        if pixels.count != labels.count * rows * columns {
            fatalError("LabeledImages: \(pixels.count) pixels for \(labels.count) images of \(rows)x\(columns)")
        }
        self.pixels = pixels
        self.labels = labels
        self.rows = rows
        self.columns = columns
    }

    /// Number of examples.
    public var count: Int { labels.count }

    /// The first `limit` examples (all when nil).
    public func prefix(_ limit: Int?) -> LabeledImages {
        guard let limit, limit < count else { return self }
        return LabeledImages(pixels: Array(pixels[0..<(limit * rows * columns)]), labels: Array(labels[0..<limit]), rows: rows, columns: columns)
    }
}

/// Fashion-MNIST (Zalando, MIT licence) as Debian's `dataset-fashion-mnist` ships it.
public enum FashionMNIST {
    /// Where Debian installs the files.
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    /// The ten class names, by label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The 60,000 training or 10,000 test examples from `directory`.
    public static func load(train: Bool, directory: URL = defaultDirectory) throws -> LabeledImages {
        let prefix = train ? "train" : "t10k"
        let images = try IDXReader.read(try file(directory, "\(prefix)-images-idx3-ubyte"))
        let labels = try IDXReader.read(try file(directory, "\(prefix)-labels-idx1-ubyte"))
        guard images.dimensions.count == 3, labels.dimensions.count == 1, images.dimensions[0] == labels.dimensions[0] else {
            throw AdjointError.file(path: directory.path, reason: "\(prefix) images \(images.dimensions) and labels \(labels.dimensions) do not match")
        }
        if let bad = labels.bytes.first(where: { $0 > 9 }) {
            throw AdjointError.file(path: directory.path, reason: "\(prefix) labels contain \(bad), outside 0...9")
        }
        return LabeledImages(pixels: images.bytes, labels: labels.bytes, rows: images.dimensions[1], columns: images.dimensions[2])
    }

    /// `name.gz` or `name` in `directory`.
    static func file(_ directory: URL, _ name: String) throws -> URL {
        for candidate in [name + ".gz", name] {
            let url = directory.appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw AdjointError.file(path: directory.appendingPathComponent(name + ".gz").path,
                                reason: "not found (install Debian's dataset-fashion-mnist, or pass the directory holding the IDX files)")
    }
}

/// Batches of (images, labels) on a device: float32 pixels scaled to [0, 1] (flat
/// `[B, 784]` or `[B, 1, 28, 28]`) and int32 labels `[B]`, in a seeded order per epoch.
public struct DataLoader: Sendable {
    /// The examples.
    public let data: LabeledImages
    /// Examples per batch.
    public let batchSize: Int
    /// Whether each epoch visits the examples in a new seeded random order.
    public let shuffle: Bool
    /// The seed of the shuffles.
    public let seed: UInt64
    /// Whether a final partial batch is dropped.
    public let dropLast: Bool
    /// `[B, 784]` when true, `[B, 1, rows, columns]` otherwise.
    public let flatten: Bool
    /// Where batches are created.
    public let device: Device

    /// A loader over `data`.
    public init(_ data: LabeledImages, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false, flatten: Bool = true, device: Device) {
        precondition(batchSize > 0, "AdjointNN.DataLoader: batch size must be positive, got \(batchSize)")
        self.data = data
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.flatten = flatten
        self.device = device
    }

    /// Batches per epoch.
    public var batchCount: Int { dropLast ? data.count / batchSize : (data.count + batchSize - 1) / batchSize }

    /// The example order of `epoch`.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<data.count) }
        return (try? RandomKey(seed).fold(UInt64(epoch)).permutation(data.count, on: .cpu).scalars(as: Int32.self).map(Int.init)) ?? Array(0..<data.count)
    }

    /// The batches of `epoch`, made one at a time as the sequence is iterated.
    public func batches(epoch: Int) -> some Sequence<(images: Tensor, labels: Tensor)> {
        let order = order(epoch: epoch)
        let pixelsPerImage = data.rows * data.columns
        return (0..<batchCount).lazy.map { batch -> (images: Tensor, labels: Tensor) in
            let indices = order[(batch * batchSize)..<Swift.min(order.count, (batch + 1) * batchSize)]
            var pixels = [Float](repeating: 0, count: indices.count * pixelsPerImage)
            let labels = indices.map { Int32(data.labels[$0]) }
            // Through raw pointers: a checked index per pixel kept this loop from
            // vectorizing (a sixth of an MLP epoch).
            pixels.withUnsafeMutableBufferPointer { target in
                data.pixels.withUnsafeBufferPointer { source in
                    guard let to = target.baseAddress, let from = source.baseAddress else { return }
                    for (row, index) in indices.enumerated() {
                        let image = from + index * pixelsPerImage, slot = to + row * pixelsPerImage
                        for pixel in 0..<pixelsPerImage { slot[pixel] = Float(image[pixel]) / 255 }
                    }
                }
            }
            let shape = flatten ? [indices.count, pixelsPerImage] : [indices.count, 1, data.rows, data.columns]
            return (Tensor(pixels, shape: shape, on: device), Tensor(labels, on: device))
        }
    }
}

// swift-tools-version:6.0
import PackageDescription

// MARK: - Kernels

/// OpenCL C sources, one file per primitive family, embedded into the binary.
let kernelFiles = ["common.cl", "elementwise.cl", "reduce.cl", "movement.cl", "matmul.cl", "random.cl"]

let package = Package(
    name: "Adjoint",
    platforms: [.macOS(.v14)],
    // MARK: - Products
    products: [
        .library(name: "Adjoint", targets: ["Adjoint"]),
        .library(name: "AdjointNN", targets: ["AdjointNN"]),
        .executable(name: "adjoint", targets: ["AdjointCLI"]),
        .executable(name: "adjoint-bench", targets: ["AdjointBenchmarks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System libraries
        .systemLibrary(name: "COpenCL", path: "Sources/COpenCL"),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The AVX-512 float32 GEMM (dispatched at run time; other CPUs use OpenBLAS).
        .target(name: "CGEMM", cSettings: [.unsafeFlags(["-O3"])]),
        // Elementwise float32 loops built for several vector widths (jit's CPU kernels).
        .target(name: "CVector", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        // The CPU backend's worker threads (spin, then park).
        .target(name: "CParallel", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("pthread")]),

        // MARK: - Library
        .target(
            name: "AdjointKernels",
            path: "Kernels",
            resources: kernelFiles.map { .embedInCode($0) }
        ),
        .target(
            name: "Adjoint",
            dependencies: ["COpenCL", "CBLAS", "CGEMM", "CVector", "CParallel", "AdjointKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(name: "AdjointNN", dependencies: ["Adjoint", "CZlib"]),
        .target(name: "AdjointRandomPrograms", dependencies: ["Adjoint"]),

        // MARK: - Command line
        .executableTarget(
            name: "AdjointCLI",
            dependencies: [
                "Adjoint", "AdjointNN", "AdjointRandomPrograms",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Benchmarks
        .executableTarget(
            name: "AdjointBenchmarks",
            dependencies: [
                "Adjoint", "AdjointNN", "CGEMM", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks"
        ),

        // MARK: - Tests
        .target(name: "AdjointTestSupport", dependencies: ["Adjoint"], path: "Tests/AdjointTestSupport"),
        .testTarget(name: "AdjointTests", dependencies: ["Adjoint", "CGEMM", "AdjointTestSupport", "AdjointRandomPrograms"]),
        .testTarget(name: "AdjointNNTests", dependencies: ["Adjoint", "AdjointNN", "AdjointTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

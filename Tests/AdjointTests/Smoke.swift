import Testing
@testable import Adjoint
@Test func smoke() { #expect(DType.float32.byteSize == 4) }

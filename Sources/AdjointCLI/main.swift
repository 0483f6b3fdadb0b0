import Adjoint
print(Device.available)

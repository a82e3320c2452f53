# Title: Gradients cross devices: x lives on the cpu, the work happens on cuda
# Needs a CUDA GPU. Moving a tensor is an autograd op (ToCopyBackward0): backward copies the
# gradient back to the device the tensor came from.
import torch

x = torch.tensor([1.0, 2.0, 3.0], device="cpu", requires_grad=True)
y = x.to("cuda") ** 2  # copied to the GPU, squared there
loss = y.sum().cpu()  # the loss comes back to the cpu
loss.backward()
print(x.grad, x.grad.device)  # tensor([2., 4., 6.]) cpu

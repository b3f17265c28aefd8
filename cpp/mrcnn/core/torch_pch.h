// Precompiled header for the torch-dependent core: torch's headers dominate compile time.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

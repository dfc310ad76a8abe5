// The host kind of BatchMemory (batch_memory.h): plain vectors, each item rendered by the CPU path.
#include <algorithm>
#include <vector>

#include "batch_memory.h"
#include "preprocess.h"

namespace mg {

namespace {

class HostBatchMemory : public BatchMemory {
 public:
  const char* device() const override { return "cpu"; }
  const char* ort_memory_name() const override { return "Cpu"; }
  int device_id() const override { return 0; }

  float* Render(const std::vector<BatchItem>& items, size_t item_floats) override {
    input_.resize(items.size() * item_floats);
    for (size_t i = 0; i < items.size(); ++i) RenderItemCpu(items[i], &input_[i * item_floats]);
    return input_.data();
  }

  float* Output(size_t index, size_t floats) override {
    if (outputs_.size() <= index) outputs_.resize(index + 1);
    outputs_[index].resize(floats);
    return outputs_[index].data();
  }

  void CopyToHost(const float* src, float* dst, size_t floats) override {
    std::copy(src, src + floats, dst);
  }

 private:
  std::vector<float> input_;
  std::vector<std::vector<float>> outputs_;
};

}  // namespace

std::unique_ptr<BatchMemory> MakeHostBatchMemory() { return std::make_unique<HostBatchMemory>(); }

}  // namespace mg

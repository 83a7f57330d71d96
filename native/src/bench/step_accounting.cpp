// Per-step sums and the figures derived from them; see step_accounting.h.
#include "bench/step_accounting.h"

#include <algorithm>

namespace pagoda {

void PhaseTotals::add(const StepTiming& t, double wall, int64_t tokens) {
  ++steps;
  output_tokens += tokens;
  context_tokens += t.context_tokens;
  wall_ms += wall;
  host_ms += t.host_ms;
  forward_ms += t.forward_ms;
  if (t.device_ms >= 0.0) {
    device_ms += t.device_ms;
    ++device_timed_steps;
    if (t.device_gap_ms >= 0.0) {
      device_gap_ms += t.device_gap_ms;
      device_gap_span_ms += t.device_ms;
      ++device_gap_steps;
    }
  }
  shapes.push_back(StepShape{t.num_tokens, t.num_seqs, t.context_tokens});
}

void PhaseTotals::merge(const PhaseTotals& o) {
  steps += o.steps;
  output_tokens += o.output_tokens;
  context_tokens += o.context_tokens;
  wall_ms += o.wall_ms;
  host_ms += o.host_ms;
  forward_ms += o.forward_ms;
  device_ms += o.device_ms;
  device_timed_steps += o.device_timed_steps;
  device_gap_ms += o.device_gap_ms;
  device_gap_span_ms += o.device_gap_span_ms;
  device_gap_steps += o.device_gap_steps;
  shapes.insert(shapes.end(), o.shapes.begin(), o.shapes.end());
}

double RooflineModel::step_bytes(int64_t context_tokens) const {
  return weight_bytes + kv_bytes_per_token * static_cast<double>(context_tokens);
}

double RooflineModel::seconds(const PhaseTotals& p) const {
  if (bandwidth_gb_per_s <= 0.0) return 0.0;
  const double bytes = weight_bytes * static_cast<double>(p.steps) + kv_bytes_per_token * static_cast<double>(p.context_tokens);
  return bytes / (bandwidth_gb_per_s * 1e9);
}

double RooflineModel::step_seconds(const StepShape& s) const {
  const double memory_s = bandwidth_gb_per_s > 0.0 ? step_bytes(s.context_tokens) / (bandwidth_gb_per_s * 1e9) : 0.0;
  const double flops = flops_per_token * s.num_tokens + flops_per_logit_row * s.num_seqs;
  const double compute_s = peak_tflops > 0.0 ? flops / (peak_tflops * 1e12) : 0.0;
  return std::max(memory_s, compute_s);
}

double RooflineModel::step_roofline_seconds(const PhaseTotals& p) const {
  if (bandwidth_gb_per_s <= 0.0 || peak_tflops <= 0.0) return 0.0;
  double total = 0.0;
  for (const StepShape& s : p.shapes) total += step_seconds(s);
  return total;
}

double RooflineModel::serial_step_seconds(const StepShape& s) const {
  const double bytes_per_s = bandwidth_gb_per_s * 1e9;
  const double flops = flops_per_token * s.num_tokens + flops_per_logit_row * s.num_seqs;
  return std::max(weight_bytes / bytes_per_s, flops / (peak_tflops * 1e12)) +
         kv_bytes_per_token * static_cast<double>(s.context_tokens) / bytes_per_s;
}

double RooflineModel::serial_roofline_seconds(const PhaseTotals& p) const {
  if (bandwidth_gb_per_s <= 0.0 || peak_tflops <= 0.0) return 0.0;
  double total = 0.0;
  for (const StepShape& s : p.shapes) total += serial_step_seconds(s);
  return total;
}

int32_t batch_bucket(int32_t num_seqs) {
  int32_t b = 1;
  while (b < num_seqs) b *= 2;
  return b;
}

void StepAccounting::add(const StepTiming& t, double wall_ms, int64_t output_tokens) {
  if (t.num_seqs == 0) return; // nothing scheduled: no forward ran
  all_.add(t, wall_ms, output_tokens);
  if (!t.decode_only()) {
    prefill_.add(t, wall_ms, output_tokens);
    return;
  }
  decode_.add(t, wall_ms, output_tokens);
  decode_by_batch_[batch_bucket(t.num_seqs)].add(t, wall_ms, output_tokens);
}

void StepAccounting::merge(const StepAccounting& other) {
  all_.merge(other.all_);
  decode_.merge(other.decode_);
  prefill_.merge(other.prefill_);
  for (const auto& [bucket, p] : other.decode_by_batch_) decode_by_batch_[bucket].merge(p);
}

json::Value phase_json(const PhaseTotals& p, const RooflineModel& roofline) {
  auto num = [](double v) { return json::Value::number(v); };
  auto pct = [&](double part) { return p.wall_ms > 0.0 ? 100.0 * part / p.wall_ms : 0.0; };
  const double wall_s = p.wall_ms / 1e3;
  json::Value j = json::Value::object();
  j.set("steps", num(static_cast<double>(p.steps)));
  j.set("output_tokens", num(static_cast<double>(p.output_tokens)));
  j.set("wall_s", num(wall_s));
  j.set("ms_per_step", num(p.steps > 0 ? p.wall_ms / p.steps : 0.0));
  j.set("output_tokens_per_s", num(wall_s > 0.0 ? p.output_tokens / wall_s : 0.0));
  j.set("host_overhead_pct", num(pct(p.host_ms)));
  j.set("forward_pct", num(pct(p.forward_ms)));
  j.set("device_timed_steps", num(static_cast<double>(p.device_timed_steps)));
  j.set("device_gap_steps", num(static_cast<double>(p.device_gap_steps)));
  if (p.device_gaps()) {
    j.set("device_busy_pct", num(100.0 - p.device_idle_pct()));
    j.set("device_idle_pct", num(p.device_idle_pct()));
  } else {
    j.set("device_busy_pct", json::Value());
    j.set("device_idle_pct", json::Value());
  }
  j.set("kv_bytes_read_per_step", num(p.steps > 0 ? roofline.kv_bytes_per_token * p.context_tokens / p.steps : 0.0));
  if (roofline.bandwidth_gb_per_s > 0.0 && p.steps > 0) {
    const double roof_s = roofline.seconds(p);
    j.set("roofline_s", num(roof_s));
    j.set("roofline_output_tokens_per_s", num(roof_s > 0.0 ? p.output_tokens / roof_s : 0.0));
    j.set("fraction_of_roofline", num(wall_s > 0.0 ? roof_s / wall_s : 0.0));
  }
  const double step_roof_s = roofline.step_roofline_seconds(p);
  j.set("step_roofline_s", step_roof_s > 0.0 ? num(step_roof_s) : json::Value());
  j.set("fraction_of_step_roofline", step_roof_s > 0.0 && wall_s > 0.0 ? num(step_roof_s / wall_s) : json::Value());
  const double serial_s = roofline.serial_roofline_seconds(p);
  j.set("serial_roofline_s", serial_s > 0.0 ? num(serial_s) : json::Value());
  j.set("fraction_of_serial_roofline", serial_s > 0.0 && wall_s > 0.0 ? num(serial_s / wall_s) : json::Value());
  return j;
}

json::Value batch_buckets_json(const StepAccounting& acc, const RooflineModel& roofline) {
  json::Value list = json::Value::array();
  for (const auto& [bucket, p] : acc.decode_by_batch()) {
    json::Value j = json::Value::object();
    j.set("batch_max", json::Value::number(bucket));
    j.set("steps", json::Value::number(static_cast<double>(p.steps)));
    j.set("output_tokens", json::Value::number(static_cast<double>(p.output_tokens)));
    j.set("ms_per_step", json::Value::number(p.steps > 0 ? p.wall_ms / p.steps : 0.0));
    j.set("device_ms_per_step", p.device_timed() ? json::Value::number(p.device_ms_per_step()) : json::Value());
    if (const double roof_s = roofline.step_roofline_seconds(p); roof_s > 0.0 && p.steps > 0 && p.wall_ms > 0.0) {
      j.set("step_roofline_ms_per_step", json::Value::number(1e3 * roof_s / p.steps));
      j.set("fraction_of_step_roofline", json::Value::number(1e3 * roof_s / p.wall_ms));
    }
    list.push_back(j);
  }
  return list;
}

} // namespace pagoda

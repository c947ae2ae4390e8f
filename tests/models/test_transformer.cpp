// The Transformer modules: float64 gradchecks of every layer and stack, PyTorch's
// names, defaults and initialisation, batch_first = false, incremental decoding
// through the decoder layer's sub-blocks, errors, and parity with
// torch.nn.Transformer through tests/fixtures/transformer.{json,safetensors}
// (tools/fixtures/gen_transformer_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "fixtures.hpp"
#include "ops/check.hpp"
#include "tapegrad.hpp"

using namespace tg;
using nlohmann::json;
using tg::test::contains;
using tg::test::error_of;

namespace {

TransformerLayerOptions small_layer(bool norm_first, TransformerActivation activation, std::size_t nhead = 2) {
  return {.d_model = 4,
          .nhead = nhead,
          .dim_feedforward = 6,
          .dropout = 0.0,
          .activation = activation,
          .batch_first = true,
          .norm_first = norm_first,
          .dtype = DType::f64};
}

// Every parameter random (biases and LayerNorm weights included), so that each gradient path matters.
template <class M>
void randomise(M& m, std::uint64_t seed) {
  for (NamedVar& p : m.named_parameters()) p.var.mutable_value() = test::randn(p.var.shape(), seed++);
}

Mask padding_of(const std::vector<std::size_t>& lengths, std::size_t s) {
  Mask m = Mask::from_shape({lengths.size(), s});
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    for (std::size_t j = 0; j < s; ++j) m(b, j) = j >= lengths[b];
  }
  return m;
}

void expect_module_gradcheck(Module& m, const std::function<Var(const std::vector<Var>&)>& f,
                             const std::vector<Tensor>& inputs) {
  GradcheckReport report = gradcheck(m, f, inputs);
  INFO(report.message());
  CHECK(report.passed);
  std::size_t elements = m.parameter_count();
  for (const Tensor& t : inputs) elements += t.size();
  CHECK(report.elements_checked == elements);
}

}  // namespace

TEST_CASE("Transformer layers and stacks: float64 gradcheck w.r.t. every parameter and the inputs") {
  for (bool norm_first : {false, true}) {
    for (TransformerActivation activation : {TransformerActivation::relu, TransformerActivation::gelu}) {
      CAPTURE(norm_first);
      CAPTURE(transformer_activation_name(activation));
      const TransformerLayerOptions o = small_layer(norm_first, activation);
      const Tensor src = test::randn({2, 3, 4}, 1), tgt = test::randn({2, 2, 4}, 2);
      const TransformerMasks masks{.tgt_mask = Transformer::generate_square_subsequent_mask(2, DType::f64),
                                   .src_key_padding_mask = padding_of({3, 2}, 3),
                                   .tgt_key_padding_mask = padding_of({2, 1}, 2),
                                   .memory_key_padding_mask = padding_of({3, 2}, 3)};

      TransformerEncoderLayer enc_layer(o);
      randomise(enc_layer, 10);
      expect_module_gradcheck(enc_layer, [&](const std::vector<Var>& x) { return enc_layer.forward(x[0], masks); },
                              {src});
      TransformerDecoderLayer dec_layer(o);
      randomise(dec_layer, 20);
      expect_module_gradcheck(
          dec_layer, [&](const std::vector<Var>& x) { return dec_layer.forward(x[0], x[1], masks); }, {tgt, src});
      TransformerEncoder encoder({.layer = o, .num_layers = 2, .norm = true});
      randomise(encoder, 30);
      expect_module_gradcheck(encoder, [&](const std::vector<Var>& x) { return encoder.forward(x[0], masks); }, {src});
      TransformerDecoder decoder({.layer = o, .num_layers = 2, .norm = true});
      randomise(decoder, 40);
      expect_module_gradcheck(decoder, [&](const std::vector<Var>& x) { return decoder.forward(x[0], x[1], masks); },
                              {tgt, src});
    }
  }
}

TEST_CASE("Transformer: float64 gradcheck with size-1 dimensions (B = 1, S = 1, T = 1, one head) and both layouts") {
  for (bool batch_first : {true, false}) {
    CAPTURE(batch_first);
    Transformer m({.d_model = 4,
                   .nhead = 1,
                   .num_encoder_layers = 1,
                   .num_decoder_layers = 1,
                   .dim_feedforward = 3,
                   .dropout = 0.0,
                   .activation = TransformerActivation::gelu,
                   .batch_first = batch_first,
                   .dtype = DType::f64});
    randomise(m, 50);
    expect_module_gradcheck(m, [&](const std::vector<Var>& x) { return m.forward(x[0], x[1]); },
                            {test::randn({1, 1, 4}, 3), test::randn({1, 1, 4}, 4)});
    // Two heads, a float memory_mask, src_is_causal and a bool src_mask broadcast over the batch.
    Transformer two({.d_model = 4,
                     .nhead = 2,
                     .num_encoder_layers = 1,
                     .num_decoder_layers = 1,
                     .dim_feedforward = 3,
                     .dropout = 0.0,
                     .batch_first = batch_first,
                     .norm_first = true,
                     .dtype = DType::f64});
    randomise(two, 60);
    const TransformerMasks masks{.src_mask = Mask{{false, true, false}, {false, false, false}, {false, true, false}},
                                 .memory_mask = test::randn({2, 3}, 5),
                                 .src_is_causal = true};
    const Shape src_shape = batch_first ? Shape{2, 3, 4} : Shape{3, 2, 4};
    const Shape tgt_shape = batch_first ? Shape{2, 2, 4} : Shape{2, 2, 4};
    expect_module_gradcheck(two, [&](const std::vector<Var>& x) { return two.forward(x[0], x[1], masks); },
                            {test::randn(src_shape, 6), test::randn(tgt_shape, 7)});
  }
}

TEST_CASE("Transformer: batch_first = false is batch_first = true with the first two axes swapped") {
  TransformerOptions o{.d_model = 8,
                       .nhead = 2,
                       .num_encoder_layers = 2,
                       .num_decoder_layers = 1,
                       .dim_feedforward = 16,
                       .dropout = 0.0,
                       .batch_first = true,
                       .dtype = DType::f64};
  Generator gen(5);
  Transformer first(o, gen);
  o.batch_first = false;
  Transformer second(o, gen);
  second.load_state_dict(first.state_dict());
  Var src(test::randn({3, 5, 8}, 1)), tgt(test::randn({3, 4, 8}, 2));
  const TransformerMasks masks{.tgt_mask = Transformer::generate_square_subsequent_mask(4),
                               .src_key_padding_mask = padding_of({5, 2, 4}, 5),
                               .memory_key_padding_mask = padding_of({5, 2, 4}, 5)};
  Var a = first.forward(src, tgt, masks);
  Var b = second.forward(transpose(src, 0, 1), transpose(tgt, 0, 1), masks);
  CHECK(b.shape() == Shape{4, 3, 8});
  CHECK(transpose(b, 0, 1).value().to_vector() == a.value().to_vector());
  // The layers and stacks on their own, too.
  TransformerLayerOptions layer = o.layer();
  TransformerEncoderLayer seq_first(layer, gen);
  layer.batch_first = true;
  TransformerEncoderLayer batch_first(layer, gen);
  batch_first.load_state_dict(seq_first.state_dict());
  CHECK(transpose(seq_first.forward(transpose(src, 0, 1)), 0, 1).value().to_vector() ==
        batch_first.forward(src).value().to_vector());
}

TEST_CASE("TransformerDecoderLayer's sub-blocks with a key/value cache equal forward over the prefix") {
  for (bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    TransformerDecoder decoder(
        {.layer = small_layer(norm_first, TransformerActivation::gelu), .num_layers = 2, .norm = true});
    randomise(decoder, 70);
    const std::size_t b = 2, t = 4;
    Var tgt(test::randn({b, t, 4}, 1)), memory(test::randn({b, 3, 4}, 2));
    const Mask memory_padding = padding_of({3, 2}, 3);
    Var full = decoder.forward(tgt, memory,
                               {.tgt_mask = Transformer::generate_square_subsequent_mask(t, DType::f64),
                                .memory_key_padding_mask = memory_padding});
    std::vector<AttentionMemory> cross, cache(decoder.num_layers());
    for (std::size_t i = 0; i < decoder.num_layers(); ++i) {
      cross.push_back(decoder.layer(i).multihead_attn.prepare(memory, memory, memory_padding));
    }
    for (std::size_t step = 0; step < t; ++step) {
      CAPTURE(step);
      const long at = static_cast<long>(step);
      Var x = slice(tgt, 1, at, at + 1);
      for (std::size_t i = 0; i < decoder.num_layers(); ++i) {
        const TransformerDecoderLayer& layer = decoder.layer(i);
        x = residual_sublayer(x, layer.norm1, norm_first, [&](const Var& h) {
          AttentionMemory rows = layer.self_attn.prepare(h, h);
          if (step > 0) {
            rows.keys = concat({cache[i].keys, rows.keys}, 1);
            rows.values = concat({cache[i].values, rows.values}, 1);
          }
          cache[i] = rows;
          return layer.self_attention_block(h, cache[i]);
        });
        x = residual_sublayer(x, layer.norm2, norm_first,
                              [&](const Var& h) { return layer.cross_attention_block(h, cross[i]); });
        x = residual_sublayer(x, layer.norm3, norm_first, [&](const Var& h) { return layer.feed_forward_block(h); });
      }
      x = decoder.norm()->forward(x);
      CHECK(test::relative_gap(x.value().to_vector(), slice(full, 1, at, at + 1).value().to_vector()) < 1e-13);
    }
  }
}

TEST_CASE("Transformer: torch's defaults, names, registration order and initialisation") {
  const TransformerOptions d;
  CHECK(d.d_model == 512);
  CHECK(d.nhead == 8);
  CHECK(d.num_encoder_layers == 6);
  CHECK(d.num_decoder_layers == 6);
  CHECK(d.dim_feedforward == 2048);
  CHECK(d.dropout == 0.1);
  CHECK(d.activation == TransformerActivation::relu);
  CHECK(d.layer_norm_eps == 1e-5);
  CHECK_FALSE(d.batch_first);
  CHECK_FALSE(d.norm_first);
  CHECK(d.bias);
  const TransformerLayerOptions l;
  CHECK(l.dim_feedforward == 2048);
  CHECK(l.dropout == 0.1);
  CHECK_FALSE(l.batch_first);

  Generator gen(3);
  Transformer m({.d_model = 8, .nhead = 2, .num_encoder_layers = 2, .num_decoder_layers = 2, .dim_feedforward = 12},
                gen);
  std::map<std::string, Shape> shapes;
  for (const NamedVar& p : m.named_parameters()) shapes[p.name] = p.var.shape();
  CHECK(shapes.at("encoder.layers.0.self_attn.in_proj_weight") == Shape{24, 8});
  CHECK(shapes.at("encoder.layers.1.linear1.weight") == Shape{12, 8});
  CHECK(shapes.at("encoder.layers.1.norm2.bias") == Shape{8});
  CHECK(shapes.at("decoder.layers.1.multihead_attn.out_proj.weight") == Shape{8, 8});
  CHECK(shapes.at("decoder.layers.0.norm3.weight") == Shape{8});
  CHECK(shapes.at("encoder.norm.weight") == Shape{8});
  CHECK(shapes.at("decoder.norm.bias") == Shape{8});
  CHECK(shapes.size() == 2 * 12 + 2 * 18 + 4);  // 12 per encoder layer, 18 per decoder layer, 2 final norms
  for (const NamedVar& p : m.named_parameters()) {
    CAPTURE(p.name);
    const Tensor& v = p.var.value();
    if (p.var.dim() > 1) {  // xavier_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
      const double a = std::sqrt(6.0 / static_cast<double>(p.var.shape()[0] + p.var.shape()[1]));
      double largest = 0;
      for (std::size_t i = 0; i < v.size(); ++i) largest = std::max(largest, std::abs(v.at(i)));
      CHECK(largest <= a);
      CHECK(largest > 0.5 * a);
    } else if (contains(p.name, "norm") && contains(p.name, "weight")) {
      CHECK(v.to_vector() == std::vector<double>(v.size(), 1.0));
    } else if (contains(p.name, "in_proj_bias") || contains(p.name, "out_proj.bias") || contains(p.name, "norm")) {
      CHECK(v.to_vector() == std::vector<double>(v.size(), 0.0));
    }
  }
  // bias = false: no bias anywhere (torch 2.1's bias argument).
  Transformer no_bias({.d_model = 8,
                       .nhead = 2,
                       .num_encoder_layers = 1,
                       .num_decoder_layers = 1,
                       .dim_feedforward = 12,
                       .bias = false});
  for (const NamedVar& p : no_bias.named_parameters()) CHECK_FALSE(contains(p.name, "bias"));
  CHECK(no_bias.named_parameters().size() == 6 + 9 + 2);  // the weights alone

  const Tensor mask = Transformer::generate_square_subsequent_mask(3);
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(mask.dtype() == DType::f32);
  CHECK(mask.to_vector() == std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  CHECK(parse_transformer_activation("gelu") == TransformerActivation::gelu);
  CHECK(parse_transformer_activation("relu") == TransformerActivation::relu);
}

TEST_CASE("Transformer: dropout acts only while training; copy_as keeps the outputs") {
  Transformer m({.d_model = 8,
                 .nhead = 2,
                 .num_encoder_layers = 1,
                 .num_decoder_layers = 1,
                 .dim_feedforward = 12,
                 .dropout = 0.3,
                 .batch_first = true,
                 .dtype = DType::f64});
  Var src(test::randn({2, 3, 8}, 1)), tgt(test::randn({2, 2, 8}, 2));
  m.eval();
  const std::vector<double> a = m.forward(src, tgt).value().to_vector();
  CHECK(m.forward(src, tgt).value().to_vector() == a);
  CHECK_FALSE(m.decoder.layer(0).dropout3.is_training());
  auto copy = copy_as(m, DType::f64);
  CHECK(copy->forward(src, tgt).value().to_vector() == a);
  m.train();
  CHECK(m.encoder.layer(0).self_attn.is_training());
  CHECK(test::relative_gap(m.forward(src, tgt).value().to_vector(), a) > 1e-3);
}

TEST_CASE("Transformer modules: bad options and inputs are errors naming the module, the argument and the shapes") {
  std::string e = error_of<Error>([] { Transformer({.d_model = 6, .nhead = 4}); });
  CHECK(contains(e, "tg::Transformer"));
  CHECK(contains(e, "d_model (6) must be a positive multiple of nhead (4)"));
  e = error_of<Error>([] { TransformerEncoderLayer({.d_model = 6, .nhead = 0}); });
  CHECK(contains(e, "tg::TransformerEncoderLayer"));
  e = error_of<Error>([] { TransformerDecoderLayer({.d_model = 8, .nhead = 2, .dropout = 1.5}); });
  CHECK(contains(e, "tg::TransformerDecoderLayer: dropout = 1.5"));
  e = error_of<Error>([] { TransformerEncoder({.layer = {.d_model = 8, .nhead = 2, .dim_feedforward = 0}}); });
  CHECK(contains(e, "tg::TransformerEncoder: dim_feedforward must be positive"));
  e = error_of<Error>([] { parse_transformer_activation("swish"); });
  CHECK(contains(e, "unknown activation 'swish'; expected relu or gelu"));

  Transformer m({.d_model = 8,
                 .nhead = 2,
                 .num_encoder_layers = 1,
                 .num_decoder_layers = 1,
                 .dim_feedforward = 12,
                 .batch_first = true});
  Var src(Tensor::zeros({2, 3, 8})), tgt(Tensor::zeros({2, 4, 8}));
  e = error_of<ShapeError>([&] { m.forward(Var(Tensor::zeros({2, 3, 6})), tgt); });
  CHECK(contains(e, "tg::Transformer: src must be [B, L, d_model = 8]"));
  CHECK(contains(e, "got [2, 3, 6]"));
  e = error_of<ShapeError>([&] { m.forward(src, Var(Tensor::zeros({2, 8}))); });
  CHECK(contains(e, "tgt must be"));
  CHECK(contains(e, "got [2, 8]"));
  e = error_of<ShapeError>([&] { m.forward(src, Var(Tensor::zeros({3, 4, 8}))); });
  CHECK(contains(e, "src [2, 3, 8] and tgt [3, 4, 8] differ in batch size"));
  e = error_of<DTypeError>([&] { m.forward(Var(Tensor::zeros({2, 3, 8}, DType::f64)), tgt); });
  CHECK(contains(e, "src is float64 but the parameters are float32"));
  e = error_of<ShapeError>([&] { m.forward(src, tgt, {.tgt_mask = Transformer::generate_square_subsequent_mask(3)}); });
  CHECK(contains(e, "attn_mask must be [L, S] = [4, 4]"));
  CHECK(contains(e, "got [3, 3]"));
  e = error_of<ShapeError>([&] { m.forward(src, tgt, {.src_key_padding_mask = Mask::from_shape({2, 4})}); });
  CHECK(contains(e, "key_padding_mask must be [B, S] = [2, 3]"));
  e = error_of<ShapeError>([&] { m.decoder.layer(0).forward(tgt, Var(Tensor::zeros({3, 3, 8}))); });
  CHECK(contains(e, "tg::TransformerDecoderLayer: tgt [2, 4, 8] and memory [3, 3, 8] differ in batch size"));
}

namespace {

struct TransformerFixtures {
  json info;
  std::map<std::string, Tensor> tensors;
};

const TransformerFixtures& transformer_fixtures() {
  static const TransformerFixtures data = [] {
    TransformerFixtures f{test::load_fixtures("transformer.json").at("transformer"), {}};
    SafetensorsFile file =
        load_safetensors(std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/transformer.safetensors");
    for (SafetensorsTensor& t : file.tensors) f.tensors[t.name] = std::get<Tensor>(t.value);
    return f;
  }();
  return data;
}

// The torch state dict: the "state." entries, in torch's order.
StateDict torch_state() {
  const TransformerFixtures& f = transformer_fixtures();
  StateDict state;
  for (const std::string& name : f.info.at("parameter_order").get<std::vector<std::string>>()) {
    state.push_back({name, f.tensors.at("state." + name)});
  }
  return state;
}

TransformerOptions fixture_options(const json& c, DType dtype) {
  const json& info = transformer_fixtures().info;
  return {.d_model = info.at("d_model"),
          .nhead = info.at("nhead"),
          .num_encoder_layers = info.at("num_encoder_layers"),
          .num_decoder_layers = info.at("num_decoder_layers"),
          .dim_feedforward = info.at("dim_feedforward"),
          .dropout = 0.0,
          .activation = parse_transformer_activation(c.at("activation")),
          .batch_first = true,
          .norm_first = c.at("norm_first"),
          .dtype = dtype};
}

void check_transformer_against_pytorch(const json& c, DType dtype, double rel, double floor) {
  const TransformerFixtures& f = transformer_fixtures();
  const std::string name = c.at("name");
  Generator gen(1);
  Transformer m64(fixture_options(c, DType::f64), gen);
  m64.load_state_dict(torch_state());  // strict: torch's names, both ways
  auto m = copy_as(m64, dtype);
  Var src(f.tensors.at("src").to(dtype), true), tgt(f.tensors.at("tgt").to(dtype), true);
  const TransformerMasks masks{.tgt_mask = test::attention_mask_of(f.info.at("tgt_mask"), dtype),
                               .src_key_padding_mask = test::mask_of(f.info.at("src_key_padding_mask")),
                               .tgt_key_padding_mask = test::mask_of(f.info.at("tgt_key_padding_mask")),
                               .memory_key_padding_mask = test::mask_of(f.info.at("memory_key_padding_mask"))};
  Var output = m->forward(src, tgt, masks);
  test::check_close(output.value(), f.tensors.at(name + ".output"), rel, floor);
  Var loss = sum(output * Var(f.tensors.at("r_output").to(dtype)));
  const double want_loss = c.at("loss");
  CHECK(std::abs(loss.item() - want_loss) <= rel * std::abs(want_loss) + floor);
  loss.backward();
  test::check_close(src.grad(), f.tensors.at(name + ".grad.src"), rel, floor);
  test::check_close(tgt.grad(), f.tensors.at(name + ".grad.tgt"), rel, floor);
  if (!c.at("every_gradient").get<bool>()) return;
  std::size_t checked = 0;
  for (const NamedVar& p : m->named_parameters()) {
    CAPTURE(p.name);
    const Tensor& want = f.tensors.at(name + ".grad." + p.name);
    test::check_close(p.var.grad(), want, rel, floor);
    ++checked;
  }
  CHECK(checked == f.info.at("parameter_order").size());
}

}  // namespace

TEST_CASE("Transformer: torch.nn.Transformer's state dict loads strictly, in torch's parameter order") {
  Generator gen(1);
  Transformer m(fixture_options(transformer_fixtures().info.at("cases").at(0), DType::f64), gen);
  m.load_state_dict(torch_state());
  std::vector<std::string> names;
  for (const NamedVar& p : m.named_parameters()) names.push_back(p.name);
  CHECK(names == transformer_fixtures().info.at("parameter_order").get<std::vector<std::string>>());
  StateDict missing_one = torch_state();
  missing_one.pop_back();
  CHECK(contains(error_of<Error>([&] { m.load_state_dict(missing_one); }), "decoder.norm.bias"));
}

TEST_CASE("Transformer matches torch.nn.Transformer (outputs, loss, gradients) in float64 and float32") {
  std::size_t cases = 0, with_every_gradient = 0;
  for (const json& c : transformer_fixtures().info.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    INFO("float64");
    check_transformer_against_pytorch(c, DType::f64, 1e-10, 1e-13);
    INFO("float32");
    check_transformer_against_pytorch(c, DType::f32, 1e-5, 1e-6);
    ++cases;
    with_every_gradient += c.at("every_gradient").get<bool>() ? 1 : 0;
  }
  CHECK(cases == 4);
  CHECK(with_every_gradient == 2);
}

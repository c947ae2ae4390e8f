#!/usr/bin/python3
"""PyTorch's int8 dynamic quantization of tapegrad's G2P model, and how fast each decodes.

Run with Debian's python3 (python3-torch):
  /usr/bin/python3 tools/torch_quantized_g2p.py --checkpoint out/best.safetensors \\
      [--words FILE] [--tapegrad build/cli/tapegrad] [--threads 1,2] [--single 500] [--jit]

1. Loads a checkpoint of `tapegrad train --task g2p` (the default recurrent model: an LSTM
   encoder, the identity bridge, one LSTM decoder cell with input feeding, general attention)
   into torch.nn modules: nn.Embedding, nn.LSTM (batch-first, packed by length), nn.LSTMCell,
   and nn.Linear for the attention's key projection (no bias) and the output layer.
2. With --tapegrad, decodes the first --check words (500) with this float model and with
   `tapegrad predict` (greedy and beam 5) and counts the words on which they differ.
3. quantize_dynamic(per_channel_dynamic_qconfig) on nn.Linear, nn.LSTM and nn.LSTMCell: int8
   weights with one scale per output row; the embeddings stay float. --engine picks the quantized
   engine: fbgemm where torch has it; Debian's torch 1.13 has not, and runs oneDNN (or qnnpack).
4. Times, under torch.inference_mode(), float32 and int8, greedy and beam 5, in batches of 64
   words (sorted longest first, as tapegrad's decode_all) and one word at a time (the first
   --single words), for each --threads count (torch's and OpenBLAS's threads; OMP_WAIT_POLICY is
   PASSIVE unless set); with --jit also with the decoder step scripted.
   Prints words per second, the WER of each model against the dictionary, and the files' sizes.

Words: --words FILE, one per line (a TAB and a pronunciation may follow; then WER is counted
against it), else the test split of --dictionary as tapegrad cuts it (SHA-1 of the word modulo
100 >= 95: 6,398 words with all their pronunciations).

Decoding follows models/decode.cpp: greedy takes the first largest logit until EOS; beam search
keeps K rows per word, ranks the 2K best extensions by raw score (double), ends a hypothesis on
EOS among the first K, stops a word at K finished ones, and picks the best by score / ((5 + n) /
6)^0.6 with n counting EOS; both run at most 2 x the longest source of the batch + 10 steps and
keep decoding every row until the whole batch is done. torch.topk may order exact ties of
scores differently from tapegrad (lower index first).
"""
import argparse
import ctypes
import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import time

# Threads that wait by spinning (libgomp's default) fight OpenBLAS's own on two cores: with 2
# threads the float model decoded 20x slower. Read once, when torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "fixtures"))
from safetensors_common import read_safetensors  # noqa: E402

DICTIONARY = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"


class Decoder(torch.nn.Module):
    """One decoder step: x = [emb(y); ctx]; h, c = cell(x); general attention; logits."""

    def __init__(self, vocab, embedding, hidden, context):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embedding)
        self.cell = torch.nn.LSTMCell(embedding + context, hidden)
        self.output = torch.nn.Linear(hidden + context, vocab)

    def forward(self, tokens, h, c, ctx, keys, values, padding):
        # tokens [N]; h, c [N, H]; ctx [N, C]; keys [N, S, H]; values [N, S, C]; padding [N, S]
        h, c = self.cell(torch.cat([self.embedding(tokens), ctx], 1), (h, c))
        scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(padding, float("-inf"))
        ctx = torch.bmm(torch.softmax(scores, 1).unsqueeze(1), values).squeeze(1)
        return self.output(torch.cat([h, ctx], 1)), h, c, ctx


class G2P(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        supported = {"architecture": "rnn", "cell": "lstm", "bridge": "identity", "attention": "general",
                     "decoder_layers": 1, "tie_embeddings": False, "bidirectional": True}
        for key, value in supported.items():
            if config[key] != value:
                raise SystemExit(f"only the default G2P model is supported: {key} is {config[key]}, not {value}")
        e, h, layers = config["embedding_size"], config["hidden_size"], config["encoder_layers"]
        self.config = config
        self.embedding = torch.nn.Embedding(config["source_vocab_size"], e)
        self.rnn = torch.nn.LSTM(e, h, num_layers=layers, bidirectional=True, batch_first=True)
        self.key_proj = torch.nn.Linear(2 * h, config["decoder_hidden_size"], bias=False)
        self.decoder = Decoder(config["target_vocab_size"], e, config["decoder_hidden_size"], 2 * h)

    def load(self, tensors):
        names = {"encoder.embedding.weight": "embedding.weight", "decoder.attention.weight": "key_proj.weight",
                 "decoder.embedding.weight": "decoder.embedding.weight",
                 "decoder.output.weight": "decoder.output.weight", "decoder.output.bias": "decoder.output.bias"}
        state = {}
        for name, t in tensors.items():
            if name.startswith("encoder.rnn."):
                state["rnn." + name[len("encoder.rnn."):]] = t
            elif name.startswith("decoder.cells.0."):
                state["decoder.cell." + name[len("decoder.cells.0."):]] = t
            else:
                state[names[name]] = t
        self.load_state_dict(state, strict=True)

    def encode(self, source, lengths):
        """source [B, S] ids, lengths [B] (sorted longest first) -> values, keys, padding, h0, c0."""
        e = self.embedding(source)
        if bool((lengths == source.shape[1]).all()):
            out, (h_n, c_n) = self.rnn(e)
        else:
            out, (h_n, c_n) = self.rnn(pack_padded_sequence(e, lengths, batch_first=True))
            out = pad_packed_sequence(out, batch_first=True, total_length=source.shape[1])[0]
        padding = torch.arange(source.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
        # identity bridge: the top encoder layer's two directions, side by side
        h0 = torch.cat([h_n[-2], h_n[-1]], 1)
        c0 = torch.cat([c_n[-2], c_n[-1]], 1)
        return out, self.key_proj(out), padding, h0, c0


def greedy(model, step, source, lengths, max_length, bos, eos):
    values, keys, padding, h, c = model.encode(source, lengths)
    batch = source.shape[0]
    ctx = torch.zeros(batch, values.shape[2])
    tokens = torch.full((batch,), bos, dtype=torch.long)
    finished = torch.zeros(batch, dtype=torch.bool)
    steps = []
    for _ in range(max_length):
        logits, h, c, ctx = step(tokens, h, c, ctx, keys, values, padding)
        tokens = logits.argmax(1)
        steps.append(tokens)
        finished |= tokens == eos
        if bool(finished.all()):
            break
    return [cut(row, eos) for row in torch.stack(steps, 1).tolist()]


def cut(ids, eos):
    return ids[:ids.index(eos)] if eos in ids else ids


def beam_search(model, step, source, lengths, max_length, bos, eos, beam=5, alpha=0.6):
    values, keys, padding, h, c = model.encode(source, lengths)
    batch, k = source.shape[0], beam
    rows = batch * k
    values, keys, padding, h, c = (t.repeat_interleave(k, 0) for t in (values, keys, padding, h, c))
    ctx = torch.zeros(rows, values.shape[2])
    tokens = torch.full((rows,), bos, dtype=torch.long)
    scores = torch.full((batch, k), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # only beam 0 starts alive
    finished = torch.zeros(batch, dtype=torch.long)
    done = torch.zeros(batch, dtype=torch.bool)
    best = torch.full((batch,), float("-inf"), dtype=torch.float64)  # best normalized score so far
    best_step = torch.zeros(batch, dtype=torch.long)
    best_row = torch.zeros(batch, dtype=torch.long)  # the row its last token extends
    best_token = torch.full((batch,), eos, dtype=torch.long)
    sentence_row = torch.arange(batch).unsqueeze(1) * k
    rank = torch.arange(2 * k)
    history_token, history_parent = [], []
    for t in range(max_length):
        logits, h, c, ctx = step(tokens, h, c, ctx, keys, values, padding)
        vocab = logits.shape[1]
        log_probs = torch.log_softmax(logits, 1).to(torch.float64).view(batch, k, vocab)
        top, index = (scores.unsqueeze(2) + log_probs).view(batch, k * vocab).topk(2 * k, 1)
        token, from_row = index % vocab, sentence_row + index // vocab
        is_eos = token == eos
        lp = ((5.0 + t + 1) / 6.0) ** alpha
        # EOS among the first K ends a hypothesis; the first K others stay alive
        ended = is_eos & (rank < k) & ~done.unsqueeze(1) & (top > float("-inf"))
        normalized, at = torch.where(ended, top / lp, torch.tensor(float("-inf"), dtype=torch.float64)).max(1)
        better = normalized > best
        best = torch.where(better, normalized, best)
        best_step = torch.where(better, torch.full_like(best_step, t), best_step)
        best_row = torch.where(better, from_row.gather(1, at.unsqueeze(1)).squeeze(1), best_row)
        best_token = torch.where(better, torch.full_like(best_token, eos), best_token)
        finished += ended.sum(1)
        alive = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :k]
        next_scores, next_token, parent = top.gather(1, alive), token.gather(1, alive), from_row.gather(1, alive)
        if t + 1 == max_length:  # words still going end with their alive hypotheses, unfinished
            normalized, at = torch.where(done.unsqueeze(1), torch.tensor(float("-inf"), dtype=torch.float64),
                                         next_scores / lp).max(1)
            better = normalized > best
            best_step = torch.where(better, torch.full_like(best_step, t), best_step)
            best_row = torch.where(better, parent.gather(1, at.unsqueeze(1)).squeeze(1), best_row)
            best_token = torch.where(better, next_token.gather(1, at.unsqueeze(1)).squeeze(1), best_token)
        keep = done.unsqueeze(1)  # words done before this step stay where they are
        next_token = torch.where(keep, torch.full_like(next_token, eos), next_token).view(-1)
        parent = torch.where(keep, sentence_row + torch.arange(k), parent).view(-1)
        history_token.append(next_token)
        history_parent.append(parent)
        done |= finished >= k
        if bool(done.all()):
            break
        scores = torch.where(done.unsqueeze(1), torch.tensor(float("-inf"), dtype=torch.float64), next_scores)
        tokens = next_token
        h, c, ctx = h[parent], c[parent], ctx[parent]
    history_token, history_parent = torch.stack(history_token).tolist(), torch.stack(history_parent).tolist()
    out = []
    for b in range(batch):
        ids, r = [best_token[b].item()], best_row[b].item()
        for s in range(best_step[b].item() - 1, -1, -1):
            ids.append(history_token[s][r])
            r = history_parent[s][r]
        out.append(cut(ids[::-1], eos))
    return out


def decode_all(model, step, words, source_vocab, target_vocab, search, batch_size):
    """Predictions (phoneme lists) for `words`, in batches sorted longest first."""
    order = sorted(range(len(words)), key=lambda i: -len(words[i]))
    unk = source_vocab.index("<unk>")
    index = {t: i for i, t in enumerate(source_vocab)}
    out = [None] * len(words)
    for begin in range(0, len(order), batch_size):
        rows = order[begin:begin + batch_size]
        longest = len(words[rows[0]])
        source = torch.zeros(len(rows), longest, dtype=torch.long)  # pad_id 0
        for i, r in enumerate(rows):
            source[i, :len(words[r])] = torch.tensor([index.get(ch, unk) for ch in words[r]])
        lengths = torch.tensor([len(words[r]) for r in rows])
        ids = search(model, step, source, lengths, 2 * longest + 10, 1, 2)
        for r, row in zip(rows, ids):
            out[r] = [target_vocab[i] for i in row if i not in (0, 1)]
    return out


def test_split(dictionary):
    """{word: [pronunciations]} of tapegrad's test split (data/cmudict.cpp)."""
    words = {}
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            fields = line.split("#")[0].split()
            if len(fields) < 2:
                continue
            word = fields[0].split("(")[0]
            digest = int.from_bytes(hashlib.sha1(word.encode("utf-8")).digest(), "big")
            if digest % 100 >= 95:
                prons = words.setdefault(word, [])
                if fields[1:] not in prons:
                    prons.append(fields[1:])
    return words


def read_words(path):
    words = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, pron = line.rstrip("\n").partition("\t")
            if word:
                words.setdefault(word, []).extend([pron.split()] if pron else [])
    return words


def wer(predictions, words, references):
    scored = [w for w in words if references[w]]
    if not scored:
        return None
    return 100.0 * sum(p not in references[w] for w, p in zip(words, predictions) if references[w]) / len(scored)


def tapegrad_predict(binary, checkpoint, words, beam):
    result = subprocess.run([binary, "predict", checkpoint, "--beam", str(beam)], input="\n".join(words) + "\n",
                            capture_output=True, text=True, check=True)
    return [line.split("\t")[1].split() for line in result.stdout.splitlines()]


def timed(model, step, words, source_vocab, target_vocab, search, batch_size):
    with torch.inference_mode():
        decode_all(model, step, words[:batch_size], source_vocab, target_vocab, search, batch_size)  # warm-up
        start = time.perf_counter()
        predictions = decode_all(model, step, words, source_vocab, target_vocab, search, batch_size)
        return predictions, len(words) / (time.perf_counter() - start)


def set_threads(n):
    """torch's threads, and OpenBLAS's (Debian's torch multiplies floats through it)."""
    torch.set_num_threads(n)
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except (OSError, AttributeError):
        pass


def saved_bytes(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.tell()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="out/best.safetensors")
    parser.add_argument("--words", help="one word per line (TAB pronunciation optional); default: the test split")
    parser.add_argument("--dictionary", default=DICTIONARY)
    parser.add_argument("--tapegrad", help="the tapegrad binary, to check the float model's predictions")
    parser.add_argument("--check", type=int, default=500, help="words checked against tapegrad")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--single", type=int, default=500, help="words decoded one at a time (0: all)")
    parser.add_argument("--jit", action="store_true", help="also time the decoder step under torch.jit.script")
    parser.add_argument("--engine", default="fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines
                        else torch.backends.quantized.engine, choices=torch.backends.quantized.supported_engines)
    args = parser.parse_args()

    torch.backends.quantized.engine = args.engine
    tensors, metadata = read_safetensors(args.checkpoint)
    config = json.loads(metadata["tapegrad.model"])
    source_vocab = json.loads(metadata["tapegrad.source_vocab"])["tokens"]
    target_vocab = json.loads(metadata["tapegrad.target_vocab"])["tokens"]
    assert (config["pad_id"], config["bos_id"], config["eos_id"]) == (0, 1, 2)
    model = G2P(config)
    model.load({name: t.float() for name, t in tensors.items()})
    model.eval()
    references = read_words(args.words) if args.words else test_split(args.dictionary)
    words = list(references)
    print(f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
          f"{len(words)} words from {args.words or 'the test split of ' + args.dictionary}")

    set_threads(max(int(n) for n in args.threads.split(",")))
    if args.tapegrad:
        checked = words[:args.check]
        with torch.inference_mode():
            for beam, search in ((1, greedy), (5, beam_search)):
                mine = decode_all(model, model.decoder, checked, source_vocab, target_vocab, search, args.batch)
                theirs = tapegrad_predict(args.tapegrad, args.checkpoint, checked, beam)
                differ = [w for w, a, b in zip(checked, mine, theirs) if a != b]
                print(f"float torch vs tapegrad predict --beam {beam}: {len(differ)} of {len(checked)} words differ"
                      + (f" ({', '.join(differ[:5])})" if differ else ""))

    models = {"float32": model}
    quantized = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig,
                                         torch.nn.LSTM: per_channel_dynamic_qconfig,
                                         torch.nn.LSTMCell: per_channel_dynamic_qconfig})
    models["int8"] = quantized
    print(f"sizes: checkpoint {os.path.getsize(args.checkpoint)} bytes; torch.save(state_dict): float32 "
          f"{saved_bytes(model.state_dict())}, int8 {saved_bytes(quantized.state_dict())}")
    print(quantized)

    variants = [("eager", None)]
    if args.jit:
        variants.append(("jit", torch.jit.script))
    single = words[:args.single] if args.single else words
    predictions = {}
    print(f"{'model':8} {'step':6} {'search':7} {'batch':>5} {'threads':>7} {'words':>6} {'words/s':>9}  load")
    for threads in (int(n) for n in args.threads.split(",")):
        set_threads(threads)
        for name, m in models.items():
            for variant, script in variants:
                step = script(m.decoder) if script else m.decoder
                for search_name, search in (("greedy", greedy), ("beam5", beam_search)):
                    for batch, subset in ((args.batch, words), (1, single)):
                        p, rate = timed(m, step, subset, source_vocab, target_vocab, search, batch)
                        if batch == args.batch:
                            predictions[name, search_name] = p
                        print(f"{name:8} {variant:6} {search_name:7} {batch:5} {threads:7} {len(subset):6} "
                              f"{rate:9.1f}  {os.getloadavg()[0]:.2f}", flush=True)
    for search_name in ("greedy", "beam5"):
        a, b = predictions["float32", search_name], predictions["int8", search_name]
        same = sum(x == y for x, y in zip(a, b))
        line = f"{search_name}: int8 and float32 agree on {same} of {len(words)} words"
        if (w_float := wer(a, words, references)) is not None:
            line += f"; WER float32 {w_float:.2f}%, int8 {wer(b, words, references):.2f}%"
        print(line)


if __name__ == "__main__":
    main()

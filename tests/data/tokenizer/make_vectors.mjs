// Regenerates llama3.tsv and llama2.tsv from independent reference
// tokenizers (see README.md). Not part of the build. Run it in a scratch
// directory outside the repository:
//   npm install @huggingface/tokenizers@0.2.0 @sctg/sentencepiece-js@1.3.3 tiktoken@1.0.22
//   node make_vectors.mjs SHARED_DIR OUT_DIR
import fs from "fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { SentencePieceProcessor } from "@sctg/sentencepiece-js";
import { Tiktoken } from "tiktoken/lite";

const [shared, outDir] = process.argv.slice(2);

// Our own inputs: whitespace runs, digits, punctuation, contractions,
// emoji (ZWJ, flags, skin tones), CJK, RTL and Indic scripts, accents,
// repeated characters (equal-priority merges: leftmost first) and words
// that Llama 3 takes whole although its merges would split them
// (ignore_merges).
const common = [
  "", "Hello world", "hello world", " Hello world", "Hello world ", "  leading two spaces",
  "trailing three   ", "a  b   c    d", " ", "  ", "     ", "\n", "\n\n\n", " \n \n",
  "line one\nline two\n\nline four", "\r\n windows\r\nline", "\ttab\tseparated\t\tvalues",
  "   \t  \n  mixed whitespace", "end with newline\n", "  \n\n  indented\n    more",
  "1", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "2024-01-15",
  "version 1.2.3-rc4", "a1b22c333d4444", "Hello, world! How are you?", "...", "!!!???",
  "(a+b)*c = d/e", "foo_bar-baz.qux", "\"quoted\" and 'single'", "#include <stdio.h>",
  "x => y", "a<b>c", "@user #tag $100 %50 ^caret &amp; *star*", "[1, 2, 3]",
  "{\"key\": \"value\", \"n\": [1.5e-3]}", "don't I'LL we've you're she'd it's THEY'RE",
  "'s 't 'RE 'Ve 'M 'lL 'D", "rock 'n' roll", "O'Neil's", "can't won't shouldn't've",
  "😀", "👍🏽 thumbs", "👨\u200d👩\u200d👧\u200d👦 family", "🏳️\u200d🌈", "I ❤️ NY", "🇺🇸🇯🇵",
  "I'm so happy😂😂", "日本語のテキスト", "中文字符测试，标点。", "한국어 텍스트",
  "Привет, мир! Hello мир", "مرحبا بالعالم", "नमस्ते दुनिया", "Ελληνικά κείμενο", "שלום עולם",
  "café naïve résumé façade Ångström Ñandú", "Zürich über Straße", "e\u0301 vs \u00e9",
  "def f(x):\n    return x**2\n", "int main() {\n\treturn 0;\n}",
  "HELLO World hello WORLD", "camelCaseWord snake_case_word", "https://example.com/path?q=1&r=2",
  "∑∫√∞ ≤ ≥ ≠", "x² + y³ = z⁴", "٣٤٥ ①②③", "a\u00a0b", "a\u3000b", "a\u2028b", "x\u0085y",
  "a\u200bb", "\ufeffBOM", "word\u3000\u3000\u3000end", "x\u00a0\u00a0!", "tab\u2003\u2003\n",
  "\u3000", "end\u00a0\u00a0", "p\u2029\u2029q", "n\u0085\u0085m", "z\u200b\u200b!", "<s> </s> <unk>", "<0x0A> literal", "\u2581 lower block",
  "Tiếng Việt: việc hợp nhiều điều, Việt Nam", "Türkçe: değiş oluştur ulaş geliş ıldı",
  "характер практика культура даже", ".:.:.:.:.:.:.:.:", "aaaaaaaaaa", "eeeeeeeeeeeeeeeeeee",
  "ababababab", "!!!!!!!!!!!!!!!!", "0000000000", "hahahahahaha", "zzzzzzzzzzzzz zzzz",
  "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.",
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.",
  "I believe the meaning of life is", "Simply put, the theory of relativity states that ",
  "A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ",
  "Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>",
];
// More of what the Llama 3 split regex treats specially (added for the
// Llama 3 acceptance tests): contractions in every case and position
// (and the curly apostrophe, which the regex does not take), digit runs of
// every length up to 10 (groups of at most three), digits beside letters,
// signs and separators, non-ASCII digits, rarer whitespace (\v \f, runs of
// tabs, spaces before and after newlines), and more scripts: Thai, Tamil,
// Bengali, Georgian, Amharic, Armenian, Arabic and Hebrew with their
// diacritics, Devanagari conjuncts and digits, traditional Chinese,
// kana-kanji mixes, Hangul jamo, stacked combining marks, keycaps,
// variation selectors, mathematical letters and CJK Extension B.
const broad = [
  "we'll I'd you'd HE'S SHE'LL I'M WE'VE it'D", "'s'll'd", " 's", "1990's x's", "don\u2019t it\u2019s",
  "I'm'll", "'", "''", "a'b", "'tis", "O'Neill'll", "rock'n'roll's",
  "1234567", "12345678", "123456789", "1234567890", " 123 4567 ", "-1234.5678", "+49 30 1234567",
  "12.345,67", "abc12345def", "x1y22z333w4444", "1st 2nd 3rd 101th", "0x1F 0b1010 1e-10",
  "\uFF11\uFF12\uFF13\uFF14", "\u0967\u0968\u0969\u096A", "\u0661\u0662\u0663\u0664", "\u00BD \u2153 \u2155",
  "\t\t\t", " \t ", "a\n  ", "a \n b", "\r\r\n", "  \n\n  x", "\u000b\u000c x", "a\t\n\tb",
  "x     \n     y", "\n\n\n\n\n\n\n\nend", "                ", "end.\n\n\n",
  "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd",
  "\u0986\u09ae\u09bf \u09ac\u09be\u0982\u09b2\u09be\u09df", "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
  "\u1230\u120b\u121d", "\u0532\u0561\u0580\u0587", "\u0645\u064f\u062d\u064e\u0645\u0651\u064e\u062f",
  "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd", "\u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f",
  "\u7e41\u9ad4\u4e2d\u6587", "\u300c\u3053\u3093\u306b\u3061\u306f\u300d\u7b2c3\u7ae0", "\u1100\u1161\u11a8",
  "Z\u0324\u0308\u0345a\u0332l\u0300g\u030ao", "1\ufe0f\u20e3 #\ufe0f\u20e3", "\u2764\ufe0e \u2764\ufe0f",
  "\ud835\udc00\ud835\udc01\ud835\udc02", "\ud840\udc00\ud840\udc01",
  "mixed\u4e2d\u6587English\u0627\u0644\u0639\u0631\u0628\u064a\u0629123",
];
const specials = [
  "<|begin_of_text|>Hello", "<|eot_id|>", "Hi<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHey",
  "<|eot_id", "< |eot_id|>", "<|reserved_special_token_5|>x", "a<|end_of_text|>b<|eom_id|>",
  "<|begin_of_text|><|begin_of_text|>", " <|eot_id|> ",
];

// Escapes: \\ \t \n \r, \u{X} for other control, format and separator
// characters; everything else as UTF-8.
function esc(s) {
  let o = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === "\\") o += "\\\\";
    else if (ch === "\t") o += "\\t";
    else if (ch === "\n") o += "\\n";
    else if (ch === "\r") o += "\\r";
    else if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(ch) || (cp >= 0x80 && /\p{Zs}/u.test(ch)))
      o += "\\u{" + cp.toString(16).toUpperCase() + "}";
    else o += ch;
  }
  return o;
}

const tj = JSON.parse(fs.readFileSync(`${shared}/tokenizers/llama3/tokenizer.json`));
const tc = JSON.parse(fs.readFileSync(`${shared}/tokenizers/llama3/tokenizer_config.json`));
const hf = new Tokenizer(tj, tc);
// Without added tokens: what the text is with special-token parsing off.
const hfPlain = new Tokenizer({ ...tj, added_tokens: [] }, { ...tc, added_tokens_decoder: {} });

// tiktoken, the tokenizer Meta's own Llama 3 code uses, as a cross-check:
// ranks are the vocabulary ids, pieces unmapped from GPT-2 byte characters.
const bc = []; let k = 0;
for (let b = 0; b < 256; b++) {
  const p = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  bc[p ? b : 256 + k++] = b;
}
const ranks = Object.entries(tj.model.vocab).map(([piece, id]) =>
  Buffer.from([...piece].map((c) => bc[c.codePointAt(0)])).toString("base64") + " " + id).join("\n");
const specialIds = Object.fromEntries(tj.added_tokens.map((t) => [t.content, t.id]));
const pat = tj.pre_tokenizer.pretokenizers[0].pattern.Regex;
const tt = new Tiktoken(ranks, specialIds, pat);

let agree = 0, disagree = [];
const l3 = ["# flags\tinput\tids (reference: @huggingface/tokenizers 0.2.0; see README.md)"];
for (const s of common.concat(broad, specials)) {
  const plain = hfPlain.encode(s, { add_special_tokens: false }).ids;
  const ttPlain = Array.from(tt.encode(s, [], []));
  if (JSON.stringify(plain) === JSON.stringify(ttPlain)) agree++; else disagree.push(s);
  l3.push(`plain\t${esc(s)}\t${plain.join(" ")}`);
  if (specials.includes(s)) {
    const sp = hf.encode(s, { add_special_tokens: false }).ids;
    const ttSp = Array.from(tt.encode(s, "all"));
    if (JSON.stringify(sp) === JSON.stringify(ttSp)) agree++; else disagree.push(s);
    l3.push(`special\t${esc(s)}\t${sp.join(" ")}`);
  }
}
fs.writeFileSync(`${outDir}/llama3.tsv`, l3.join("\n") + "\n");
console.log(`llama3: ${l3.length - 1} vectors; tiktoken agrees on ${agree}, differs on`, disagree);

const spp = new SentencePieceProcessor();
await spp.load(`${shared}/tokenizers/llama2/tokenizer.model`);
const l2 = ["# flags\tinput\tids (reference: @sctg/sentencepiece-js 1.3.3; see README.md)"];
for (const s of common.concat(broad)) l2.push(`plain\t${esc(s)}\t${spp.encodeIds(s).join(" ")}`);
fs.writeFileSync(`${outDir}/llama2.tsv`, l2.join("\n") + "\n");
console.log(`llama2: ${l2.length - 1} vectors`);

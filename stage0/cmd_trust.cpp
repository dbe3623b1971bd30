// `pod trust`: OpenPGP keys trusted for image signatures (Documentation/trust.md).
//   pod trust [--prefix=NAME-PREFIX | --root] [--skip-fingerprint-review] KEY.asc…
//   pod trust list [--format=table|json|json-pretty]
//   pod trust rm FINGERPRINT…
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "table.hpp"
#include "trust/keystore.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {

std::string expiry_text(const TrustedKey& k) {
  std::string s = k.expires ? format_rfc3339(*k.expires) : "never";
  if (k.expired) s += " (expired)";
  if (k.revoked) s += " (revoked)";
  return s;
}

std::string where(const TrustedKey& k) {
  return k.root ? "as a root key (all images)" : "for prefix \"" + k.prefix + "\"";
}

// Show the key and ask; true when the answer is yes.
bool review(const std::string& file, const TrustedKey& k, const std::string& scope) {
  std::cerr << "Key file: " << file << "\nFingerprint: " << k.fingerprint << "\n";
  for (const auto& u : k.uids) std::cerr << "  uid: " << u << "\n";
  std::cerr << "  expires: " << expiry_text(k) << "\n";
  std::cerr << "Trust this key " << scope << "? Check the fingerprint with its publisher first. (yes/no): "
            << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "yes" || answer == "y";
}

struct AddFlags {
  std::vector<std::string> files;
  std::string prefix;
  bool root = false, skip_review = false;
};

void run_add(Context& ctx, const AddFlags& f) {
  if (f.files.empty()) throw usage_error("pod trust needs a key file: pod trust --prefix=NAME-PREFIX KEY.asc");
  if (f.root == !f.prefix.empty()) throw usage_error("give either --prefix=NAME-PREFIX or --root");
  if (!f.root) trust::validate_prefix(f.prefix);  // before asking anything
  if (!f.skip_review && !::isatty(0))
    throw usage_error("stdin is not a terminal, so the key's fingerprint cannot be reviewed; check it "
                      "(gpg --show-keys KEY.asc) and give --skip-fingerprint-review");
  const std::string scope = f.root ? "for every image name (root key)" : "for image names under \"" + f.prefix + "\"";
  Runtime& rt = ctx.runtime();
  for (const auto& file : f.files) {
    if (!f.skip_review && !review(file, Runtime::read_key_file(file), scope))
      throw Error("not trusting the key in " + file + " (the answer was not yes)");
    const TrustedKey k = rt.trust_key(file, f.prefix, f.root);
    std::cout << "Added key " << k.fingerprint << " " << where(k) << " at " << k.path << "\n";
  }
}

struct ListFlags {
  std::string format = "table";
};

void run_list(Context& ctx, const ListFlags& f) {
  const auto keys = ctx.runtime(true).list_trusted_keys();
  if (f.format != "table") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : keys)
      arr.push_back({{"prefix", k.prefix}, {"root", k.root}, {"fingerprint", k.fingerprint}, {"uids", k.uids},
                     {"expires", k.expires ? nlohmann::json(format_rfc3339(*k.expires)) : nlohmann::json(nullptr)},
                     {"expired", k.expired}, {"revoked", k.revoked}, {"store", k.system ? "system" : "local"},
                     {"path", k.path}});
    std::cout << (f.format == "json" ? arr.dump() : arr.dump(2)) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : keys)
    rows.push_back({k.root ? "(root)" : k.prefix, k.fingerprint, k.uids.empty() ? "" : k.uids.front(), expiry_text(k),
                    k.system ? "system" : "local"});
  print_table(std::cout, {"PREFIX", "FINGERPRINT", "UID", "EXPIRES", "STORE"}, rows, true);
}

void run_rm(Context& ctx, const std::vector<std::string>& fingerprints) {
  if (fingerprints.empty()) throw usage_error("pod trust rm needs a key fingerprint (see pod trust list)");
  Runtime& rt = ctx.runtime();
  for (const auto& fp : fingerprints)
    for (const auto& k : rt.untrust_key(fp)) std::cout << "Removed key " << k.fingerprint << " " << where(k) << "\n";
}

}  // namespace

void register_trust(CLI::App& app, Context& ctx) {
  auto af = std::make_shared<AddFlags>();
  auto* t =
      app.add_subcommand("trust", "Trust OpenPGP keys to sign images (per image name prefix); list and remove them");
  t->add_option("key", af->files, "Public key files (ASCII armored or binary), one key each");
  t->add_option("--prefix", af->prefix,
                "Image name prefix the key may sign for (example.com/app covers example.com/app/*)");
  t->add_flag("--root", af->root, "Trust the key for every image name");
  t->add_flag("--skip-fingerprint-review", af->skip_review,
              "Do not show the key and ask (required when stdin is not a terminal)");
  t->require_subcommand(0, 1);
  t->callback([&ctx, af, t] {
    if (t->get_subcommands().empty()) run_add(ctx, *af);
  });

  auto lf = std::make_shared<ListFlags>();
  auto* c = t->add_subcommand("list", "List trusted keys: prefix, fingerprint, uid, expiry, system or local store");
  c->add_option("--format", lf->format, "Output format")->check(CLI::IsMember({"table", "json", "json-pretty"}));
  c->callback([&ctx, lf] { run_list(ctx, *lf); });

  auto rf = std::make_shared<std::vector<std::string>>();
  c = t->add_subcommand("rm", "Remove a local trusted key (from every prefix it is trusted for)");
  c->add_option("fingerprint", *rf, "Key fingerprints (as pod trust list shows them)");
  c->callback([&ctx, rf] { run_rm(ctx, *rf); });
}

}  // namespace pod::cli

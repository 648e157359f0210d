// See symbolize.h.
#include "gcrt/runtime/symbolize.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gc::runtime {

namespace {

// One module's ELF symbol table, mapped from its file.
class ElfSymbols {
 public:
  bool Open(const char* path) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
      ::close(fd);
      return false;
    }
    size_ = static_cast<size_t>(st.st_size);
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) return false;
    base_ = static_cast<const char*>(m);
    auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base_);
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        eh->e_shoff + eh->e_shnum * sizeof(ElfW(Shdr)) > size_) {
      return true;  // mapped, no usable sections
    }
    auto* sh = reinterpret_cast<const ElfW(Shdr)*>(base_ + eh->e_shoff);
    // .symtab (every function, static ones too) if the file has one, else
    // .dynsym (the exported ones).
    for (uint32_t want : {SHT_SYMTAB, SHT_DYNSYM}) {
      for (int i = 0; i < eh->e_shnum && syms_ == nullptr; i++) {
        if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
        const ElfW(Shdr)& str = sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size_ ||
            str.sh_offset + str.sh_size > size_) {
          continue;
        }
        syms_ = reinterpret_cast<const ElfW(Sym)*>(base_ + sh[i].sh_offset);
        nsyms_ = sh[i].sh_size / sizeof(ElfW(Sym));
        strtab_ = base_ + str.sh_offset;
        strsize_ = str.sh_size;
      }
      if (syms_ != nullptr) break;
    }
    return true;
  }
  ~ElfSymbols() {
    if (base_ != nullptr) ::munmap(const_cast<char*>(base_), size_);
  }

  // The function symbol containing the link-time address `vaddr` (or the
  // nearest below it, for symbols without a size), and its start.
  const char* Lookup(uintptr_t vaddr, uintptr_t* start) const {
    const ElfW(Sym)* best = nullptr;
    for (size_t i = 0; i < nsyms_; i++) {
      const ElfW(Sym)& s = syms_[i];
      int type = ELF64_ST_TYPE(s.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
          s.st_shndx == SHN_UNDEF || s.st_value > vaddr ||
          s.st_name >= strsize_) {
        continue;
      }
      if (s.st_size != 0 && vaddr >= s.st_value + s.st_size) continue;
      if (best == nullptr || s.st_value > best->st_value ||
          (s.st_value == best->st_value && s.st_size != 0)) {
        best = &s;
      }
    }
    if (best == nullptr) return nullptr;
    *start = best->st_value;
    return strtab_ + best->st_name;
  }

 private:
  const char* base_ = nullptr;
  size_t size_ = 0;
  const ElfW(Sym) * syms_ = nullptr;
  size_t nsyms_ = 0;
  const char* strtab_ = nullptr;
  size_t strsize_ = 0;
};

struct ModuleOf {
  uintptr_t pc;
  const char* name = nullptr;  // "" for the executable
  uintptr_t bias = 0;
  bool found = false;
};

int FindModule(struct dl_phdr_info* info, size_t, void* data) {
  auto* m = static_cast<ModuleOf*>(data);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (m->pc >= lo && m->pc < lo + ph.p_memsz) {
      m->name = info->dlpi_name != nullptr ? info->dlpi_name : "";
      m->bias = info->dlpi_addr;
      m->found = true;
      return 1;
    }
  }
  return 0;
}

std::string ExecutablePath() {
  char path[512];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  path[n > 0 ? n : 0] = '\0';
  return path;
}

}  // namespace

struct Symbolizer::Modules {
  struct Module {
    std::string path;
    std::unique_ptr<ElfSymbols> symbols;  // null if the file cannot be read
  };
  static constexpr size_t kMaxModules = 16;
  std::vector<Module> list;

  const ElfSymbols* SymbolsOf(const std::string& path) {
    for (const Module& m : list) {
      if (m.path == path) return m.symbols.get();
    }
    if (list.size() == kMaxModules) return nullptr;  // dladdr's names only
    auto syms = std::make_unique<ElfSymbols>();
    if (!syms->Open(path.c_str())) syms = nullptr;
    list.push_back({path, std::move(syms)});
    return list.back().symbols.get();
  }
};

Symbolizer::Symbolizer() : modules_(std::make_unique<Modules>()) {}
Symbolizer::~Symbolizer() = default;

bool Symbolizer::Symbolize(uintptr_t pc, bool exact, SymbolizedFrame* out) {
  const uintptr_t lookup = exact ? pc : pc - 1;
  ModuleOf m{lookup};
  dl_iterate_phdr(&FindModule, &m);
  if (!m.found) return false;
  out->module = m.name[0] == '\0' ? ExecutablePath() : std::string(m.name);
  out->module_offset = pc - m.bias;
  uintptr_t start = 0;
  const char* name = nullptr;
  if (const ElfSymbols* syms = modules_->SymbolsOf(out->module)) {
    name = syms->Lookup(lookup - m.bias, &start);
  }
  if (name == nullptr) {
    // dladdr knows what the dynamic linker does (exported symbols).
    Dl_info dl;
    if (::dladdr(reinterpret_cast<void*>(lookup), &dl) != 0 &&
        dl.dli_sname != nullptr) {
      name = dl.dli_sname;
      start = reinterpret_cast<uintptr_t>(dl.dli_saddr) - m.bias;
    }
  }
  out->function.clear();
  out->mangled.clear();
  out->function_offset = 0;
  if (name == nullptr) return true;
  out->mangled = name;
  int status = -1;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  out->function = status == 0 && demangled != nullptr ? demangled : name;
  std::free(demangled);
  out->function_offset = pc - m.bias - start;
  return true;
}

namespace {

// The GNU build id note of a module's loaded segments, in hex.
std::string BuildId(const struct dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((note->n_namesz + 3) & ~3u);
      const char* next = desc + ((note->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        std::string hex;
        char buf[3];
        for (uint32_t j = 0; j < note->n_descsz; j++) {
          std::snprintf(buf, sizeof buf, "%02x",
                        static_cast<unsigned char>(desc[j]));
          hex += buf;
        }
        return hex;
      }
      p = next;
    }
  }
  return {};
}

int CollectModule(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<LoadedModule>*>(data);
  // The executable is the module without a name.
  const bool executable =
      info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    LoadedModule m;
    m.start = info->dlpi_addr + ph.p_vaddr;
    m.limit = m.start + ph.p_memsz;
    m.file_offset = ph.p_offset;
    m.path = executable ? ExecutablePath() : std::string(info->dlpi_name);
    m.build_id = BuildId(info);
    if (!m.path.empty()) out->push_back(std::move(m));
  }
  return 0;
}

}  // namespace

std::vector<LoadedModule> LoadedModules() {
  std::vector<LoadedModule> out;
  dl_iterate_phdr(&CollectModule, &out);
  return out;
}

}  // namespace gc::runtime

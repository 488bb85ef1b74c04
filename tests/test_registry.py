import pytest

from genzoo.errors import ConfigError, UnknownFamilyError, UnknownModelError
from genzoo.registry import BundledSource, HubSource, Registry, UrlSource


def make_registry():
    reg = Registry()
    r = reg.scoped("cyc")
    r.add_family("cyclegan", model="pkg.mod:CycleGAN", description="unpaired translation")
    for n in ["horse2zebra", "zebra2horse", "apple2orange", "summer2winter_yosemite"]:
        r.add_model(f"cyclegan-{n}", family="cyclegan", source=HubSource("genzoo/cyclegan-" + n, "abc123"))
    r.commit()
    return reg


def test_fnmatch_patterns_sorted():
    reg = make_registry()
    assert reg.list_models("cyclegan-*") == [
        "cyclegan-apple2orange", "cyclegan-horse2zebra", "cyclegan-summer2winter_yosemite", "cyclegan-zebra2horse",
    ]  # fmt: skip
    assert reg.list_models("*2zebra") == ["cyclegan-horse2zebra"]
    assert reg.list_models("CYCLEGAN-H*") == ["cyclegan-horse2zebra"]
    assert reg.list_models(family="cyclegan") == reg.list_models()


def test_unknown_model_suggests_closest_names():
    reg = make_registry()
    with pytest.raises(UnknownModelError, match="cyclegan-horse2zebra") as e:
        reg.model("cyclegan-horse2zebr")
    assert "genzoo list" in str(e.value)
    with pytest.raises(UnknownModelError, match="horse2zebra"):
        reg.model("horse2zebra")  # substring match is offered too
    with pytest.raises(UnknownFamilyError, match="cyclegan"):
        reg.family("cyclegn")


def test_duplicate_model_across_plugins_rejects_only_that_entry_naming_both():
    # Was: DuplicateNameError and nothing of the second plugin committed. Now the first keeps the name.
    reg = make_registry()
    other = reg.scoped("other-plugin")
    other.add_model("cyclegan-horse2zebra", family="cyclegan", description="other's")
    other.add_model("other-model", family="cyclegan")
    done = other.commit()
    assert done.models == ["other-model"] and [r.name for r in done.rejected] == ["cyclegan-horse2zebra"]
    assert "'cyc' and 'other-plugin'" in done.rejected[0].reason and done.rejected[0].owner == "cyc"
    assert reg.models["cyclegan-horse2zebra"].plugin == "cyc" and "other-model" in reg.models
    assert reg.model("other-plugin:cyclegan-horse2zebra").description == "other's"
    assert reg.model("cyc:cyclegan-horse2zebra") is reg.models["cyclegan-horse2zebra"]


def test_a_name_twice_in_one_plugin_keeps_the_first_even_when_it_lost_a_clash():
    reg = make_registry()
    other = reg.scoped("other")
    other.add_model("cyclegan-horse2zebra", family="cyclegan", description="1st")
    other.add_model("cyclegan-horse2zebra", family="cyclegan", description="2nd")
    other.add_model("x", family="cyclegan", description="1st")
    other.add_model("x", family="cyclegan", description="2nd")
    done = other.commit()
    assert done.models == ["x"] and reg.models["x"].description == "1st"
    assert [("twice" in r.reason, r.name) for r in done.rejected] == [
        (False, "cyclegan-horse2zebra"), (True, "cyclegan-horse2zebra"), (True, "x"),
    ]  # fmt: skip
    assert reg.model("other:cyclegan-horse2zebra").description == "1st"
    assert reg.model("cyc:cyclegan-horse2zebra").plugin == "cyc"


def test_a_family_that_loses_takes_its_plugins_models_along_across_commits():
    reg = make_registry()
    first = reg.scoped("other")
    first.add_family("cyclegan", model="other.mod:Mine")  # families hook
    assert [r.name for r in first.commit().rejected] == ["cyclegan"]
    second = reg.scoped("other")
    second.add_model("other-own", family="cyclegan")  # models hook, a separate commit
    done = second.commit()
    assert done.models == [] and "its family 'cyclegan' was rejected (plugin 'cyc' owns that name)" in done.rejected[0].reason
    assert reg.model("other:other-own").family == "other:cyclegan"
    assert reg.family(reg.model("other:other-own").family).model == "other.mod:Mine"
    assert "other-own" not in reg.models and all(m.family in reg.families for m in reg.models.values())
    # a third plugin's model of that family uses the owner's: it never registered a family of its own
    third = reg.scoped("third")
    third.add_model("third-model", family="cyclegan")
    assert third.commit().models == ["third-model"]


def test_commit_is_all_or_nothing():
    reg = make_registry()
    r = reg.scoped("p")
    r.add_model("fine-model", family="cyclegan")
    r.add_model("bad-model", family="nope")
    with pytest.raises(UnknownFamilyError, match="'nope'"):
        r.commit()
    assert "fine-model" not in reg.models


def test_invalid_names_and_sources_are_refused():
    r = Registry().scoped("p")
    with pytest.raises(ConfigError, match="Hub repo id"):
        r.add_family("user/fam", model="a:B")
    with pytest.raises(ConfigError, match="module:Class"):
        r.add_family("fam", model="a.B")
    with pytest.raises(ConfigError, match="HubSource, BundledSource or UrlSource"):
        r.add_model("m", family="fam", source="user/repo")


def test_sources_render_as_locations():
    assert str(HubSource("genzoo/x", "0123abcd")) == "hf://genzoo/x@0123abcd"
    src = BundledSource("genzoo_toy", "weights/x")
    assert str(src) == "bundled:genzoo_toy/weights/x"
    assert src.folder().name == "x"
    url = UrlSource("http://example.org/models/pretrained/horse2zebra.pth", layout="reference")
    assert str(url) == "http://example.org/models/pretrained/horse2zebra.pth (reference layout, converted on first use)"
    # the short forms `genzoo list` shows
    assert HubSource("genzoo/x", "0123abcd" * 5).label() == "hf://genzoo/x@0123abcd"
    assert src.label() == "bundled:genzoo_toy" and url.label() == "example.org/.../horse2zebra.pth (reference)"

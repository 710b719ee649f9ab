"""The pure decisions: classification, priority, routing, escalation, upsell, similarity, cases."""
from __future__ import annotations

import pytest

from schemas.contact import Thread
from schemas.lifecycle import Lifecycle, LifecycleAction
from schemas.routed import DedupVerdict, UpsellVerdict
from streams.decide.cases import CustomerState, apply_lifecycle, customer_of_case
from streams.decide.decider import Decider
from streams.decide.text import KeywordFamily, normalize, shingles, similarity, sketch

from .builders import T0, contact

KEY = "cus-00000000000000aa"


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider.load()


def decide(decider: Decider, state: CustomerState, event):  # noqa: ANN001, ANN201
    out = decider.decide(event, KEY, state, "identity: test")
    assert out.routed is not None
    return out


@pytest.mark.parametrize(("body", "category", "phase"), [
    ("我的快递三天了还没到，物流也不更新", "logistics", "in_sale"),
    ("My parcel has not arrived, the tracking page is stuck", "logistics", "in_sale"),
    ("我要退货退款，尺码不对", "return_refund", "after_sale"),
    ("I would like a refund and to return the shoes", "return_refund", "after_sale"),
    ("请问这款有没有蓝色的？多少钱", "consultation", "pre_sale"),
    ("The kettle stopped working, is it under warranty?", "warranty", "after_sale"),
    ("付款的时候被扣款两次", "payment", "in_sale"),
    ("我要投诉你们的客服", "complaint", "after_sale"),
    ("hello there", "other", "unknown"),
])
def test_bilingual_categories(decider: Decider, body: str, category: str, phase: str) -> None:
    c = decider.classifier.classify(contact("email", "m", body).data)
    assert (c.category, c.phase) == (category, phase)
    assert category in c.category_reason or category == "other"


def test_phase_cue_overrides_category_phase(decider: Decider) -> None:
    c = decider.classifier.classify(contact("chat", "m", "before buying: what size runs large?").data)
    assert (c.category, c.phase) == ("product", "pre_sale")
    c = decider.classifier.classify(contact("chat", "m", "收到后发现颜色不对").data)
    assert c.phase == "after_sale"


def test_english_keywords_respect_word_boundaries(decider: Decider) -> None:
    c = decider.classifier.classify(contact("email", "m", "There is an issue with the border colour").data)
    assert "regulator" not in c.cues  # 'sue' inside 'issue' must not count
    assert c.category == "other"


def test_sentiment_and_severity(decider: Decider) -> None:
    c = decider.classifier.classify(contact("sms", "m", "第三次了还没退款，太过分了！我要打12315投诉").data)
    assert c.sentiment == "angry"
    assert c.severity == 3 and "12315" in c.severity_reason
    assert {"regulator", "repeated_failure", "refund_demand"} <= c.cues
    calm = decider.classifier.classify(contact("sms", "m", "我要投诉：客服回复有点慢").data)
    assert (calm.category, calm.severity) == ("complaint", 1)
    none = decider.classifier.classify(contact("sms", "m", "where is my parcel").data)
    assert none.severity == 0


def test_language_from_tag_or_text(decider: Decider) -> None:
    assert decider.classifier.classify(contact("chat", "m", "你好").data).language == "zh"
    assert decider.classifier.classify(contact("chat", "m", "hi").data).language == "en"
    assert decider.classifier.classify(contact("chat", "m", "hi", language="zh-CN").data).language == "zh"


def test_public_post_ranks_above_private_same_content(decider: Decider) -> None:
    body = "Where is my parcel? the tracking has not moved for a week"
    private = decide(decider, CustomerState(), contact("social", "a", body)).routed
    public = decide(decider, CustomerState(), contact("social", "b", body, is_public=True)).routed
    assert public.priority < private.priority
    assert "public post" in public.priority_reason


def test_priority_formula_and_reason(decider: Decider) -> None:
    r = decide(decider, CustomerState(), contact("chat", "m", "紧急！订单一直显示支付失败", attributes={"segment": "VIP"})).routed
    assert r.segment == "vip"
    # urgency 3 (紧急) x impact 1 x complexity 2 (payment) x 1.5 (vip) = 9 -> P2
    assert r.priority == 2, r.priority_reason
    assert "urgency 3 (urgent '紧急')" in r.priority_reason and "= 9 -> P2" in r.priority_reason


def test_vip_segment_sticks_to_the_customer(decider: Decider) -> None:
    state = CustomerState()
    decide(decider, state, contact("webform", "a", "hello", attributes={"segment": "gold"}))
    later = decide(decider, state, contact("email", "b", "another question", 600)).routed
    assert later.segment == "vip" and "known for this customer" in later.priority_reason


@pytest.mark.parametrize(("body", "kw", "queue", "tier"), [
    ("快递一直没收到", {}, "logistics", 1),
    ("请问这款有货吗", {}, "presales-zh", 1),
    ("is this in stock?", {}, "presales", 1),
    ("我要投诉", {}, "complaints", 1),
    ("your product is a scam, terrible service!!!", {"is_public": True}, "social-care", 2),
    ("hello", {"attributes": {"segment": "platinum"}}, "vip-desk", 1),
    ("hello", {}, "general", 1),
])
def test_routing_first_matching_rule(decider: Decider, body: str, kw: dict, queue: str, tier: int) -> None:
    r = decide(decider, CustomerState(), contact("social", "m", body, **kw)).routed
    assert (r.queue, r.tier) == (queue, tier), r.routing_reason


def test_escalation_by_rule_on_regulator_mention(decider: Decider) -> None:
    out = decide(decider, CustomerState(), contact("email", "m", "I will report this to consumer protection"))
    assert out.routed.tier == 3 and out.routed.queue == "complaints-mgmt"
    assert out.escalation is not None
    assert (out.escalation.from_tier, out.escalation.to_tier, out.escalation.trigger) == (1, 3, "rule")
    assert out.escalation.case_id == out.routed.case_id


def test_upsell_lead_with_evidence(decider: Decider) -> None:
    out = decide(decider, CustomerState(), contact("chat", "m", "我的会员快到期了，想升级到高级版，有什么优惠？"))
    assert out.routed.upsell == UpsellVerdict.LEAD
    assert out.lead is not None and out.lead.kind.value == "upgrade" and out.lead.score >= 0.8
    assert "升级" in out.lead.evidence or "会员" in out.lead.evidence


@pytest.mark.parametrize(("body", "why"), [
    ("I want to complain, and no I do not want to upgrade", "category complaint"),
    ("this is ridiculous!!! where is my accessory", "sentiment angry"),
    ("召回通知收到了，顺便问下配件", "category recall"),
])
def test_upsell_suppressed_with_reason(decider: Decider, body: str, why: str) -> None:
    out = decide(decider, CustomerState(), contact("chat", "m", body))
    assert out.routed.upsell == UpsellVerdict.SUPPRESSED and out.lead is None
    assert why in out.routed.upsell_reason and "no forced selling" in out.routed.upsell_reason


def test_upsell_suppressed_while_a_severe_case_is_open(decider: Decider) -> None:
    state = CustomerState()
    decide(decider, state, contact("email", "a", "多次投诉没人处理，我要找律师"))
    out = decide(decider, state, contact("chat", "b", "另外想买个配件", 5))
    assert out.routed.upsell == UpsellVerdict.SUPPRESSED and "open case of severity 3" in out.routed.upsell_reason


def test_chinese_and_english_similarity() -> None:
    def sk(t: str) -> list[int]:
        return sketch(shingles(normalize(t)), 64)
    same_zh = similarity(sk("我买的电饭煲不能加热了，怎么办"), sk("电饭煲不能加热，请帮忙处理"), 64)
    other_zh = similarity(sk("我买的电饭煲不能加热了，怎么办"), sk("发票抬头写错了"), 64)
    same_en = similarity(sk("The rice cooker stopped heating"), sk("my rice cooker is not heating anymore"), 64)
    other_en = similarity(sk("The rice cooker stopped heating"), sk("wrong invoice title"), 64)
    assert same_zh > 0.35 > other_zh
    assert same_en > 0.35 > other_en
    assert similarity([], sk("x"), 64) == 0.0


def test_keyword_family_longest_match_and_rule_index() -> None:
    fam = KeywordFamily([["订单"], ["取消订单"], ["order"]])
    hits = fam.hits(normalize("我要取消订单 ORDERS"))
    assert [(h.rule, h.keyword) for h in hits] == [(1, "取消订单"), (2, "orders")]


def test_exact_redelivery_is_decided_once(decider: Decider) -> None:
    state = CustomerState()
    event = contact("sms", "m1", "where is my order")
    assert decider.decide(event, KEY, state, "x").routed is not None
    assert decider.decide(event, KEY, state, "x").routed is None


def test_auto_reply_opens_no_case(decider: Decider) -> None:
    state = CustomerState()
    r = decide(decider, state, contact("email", "m", "I am out of office", kind="auto_reply")).routed
    assert r.dedup == DedupVerdict.NOT_A_CONTACT and r.case_id == "" and not state.cases


def test_repeat_across_channels_by_order_reference(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("email", "e1", "订单号：A2026112201 一直没发货")).routed
    again = decide(decider, state, contact("sms", "s1", "still waiting for order A2026112201", 90)).routed
    third = decide(decider, state, contact("phone", "p1", "shipping question", 200, order_numbers=["a2026112201"])).routed
    assert first.dedup == DedupVerdict.NEW_CASE
    assert again.dedup == DedupVerdict.REPEAT and again.case_id == first.case_id
    assert "a2026112201" in again.dedup_reason
    assert third.dedup == DedupVerdict.REPEAT and third.case_id == first.case_id
    assert state.cases[first.case_id].repeats == 2


def test_repeat_goes_back_to_case_owner(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("email", "e1", "my refund has not arrived")).routed
    apply_lifecycle(state, Lifecycle(case_id=first.case_id, action=LifecycleAction.ASSIGNED, at=T0, agent="li.wei",
                                     queue="after-sales-senior"))
    again = decide(decider, state, contact("phone", "p1", "refund not arrived yet, second time I call", 60)).routed
    assert again.dedup == DedupVerdict.REPEAT and again.queue == "after-sales-senior"
    assert "li.wei" in again.routing_reason and "first-contact responsibility" in again.routing_reason


def test_repeat_by_chinese_text_similarity(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("email", "e1", "电饭煲不能加热了，麻烦帮忙看看怎么处理")).routed
    again = decide(decider, state, contact("webform", "w1", "电饭煲还是不能加热，怎么处理", 120)).routed
    other = decide(decider, state, contact("webform", "w2", "发票抬头写错了，能重开吗", 130)).routed
    assert again.dedup == DedupVerdict.REPEAT and again.case_id == first.case_id
    assert "text similarity" in again.dedup_reason
    assert other.dedup == DedupVerdict.NEW_CASE and other.case_id != first.case_id


def test_repeat_window_and_closed_cases(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("email", "e1", "order A2026112299 missing")).routed
    late = decide(decider, state, contact("email", "e2", "order A2026112299 missing", 60 * 24 * 4)).routed
    assert late.dedup == DedupVerdict.NEW_CASE and late.case_id != first.case_id  # outside the 72 h window
    apply_lifecycle(state, Lifecycle(case_id=late.case_id, action=LifecycleAction.CLOSED, at=T0))
    after_close = decide(decider, state, contact("email", "e3", "order A2026112299 missing", 60 * 24 * 4 + 10)).routed
    assert after_close.dedup == DedupVerdict.NEW_CASE


def test_email_thread_reply(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("email", "<a@x>", "Question about my account",
                                           thread=Thread(message_id="<a@x>"))).routed
    reply = decide(decider, state, contact("email", "<b@x>", "Re: anything new?", 30,
                                           thread=Thread(message_id="<b@x>", in_reply_to="<a@x>", references=["<a@x>"]))).routed
    assert reply.dedup == DedupVerdict.THREAD_REPLY and reply.case_id == first.case_id


def test_chat_follow_up_in_one_conversation(decider: Decider) -> None:
    state = CustomerState()
    first = decide(decider, state, contact("chat", "c1", "hi, my parcel is late")).routed
    nxt = decide(decider, state, contact("chat", "c2", "ok thanks, and can you check the address?", 2)).routed
    assert nxt.dedup == DedupVerdict.FOLLOW_UP and nxt.case_id == first.case_id


def test_lifecycle_and_case_ids(decider: Decider) -> None:
    state = CustomerState()
    r = decide(decider, state, contact("email", "e1", "hello")).routed
    assert customer_of_case(r.case_id) == KEY
    assert customer_of_case("ticket-42") is None
    assert apply_lifecycle(state, Lifecycle(case_id=r.case_id, action=LifecycleAction.RESOLVED, at=T0))
    assert state.cases[r.case_id].status == "resolved"
    assert not apply_lifecycle(state, Lifecycle(case_id=KEY + "-9999", action=LifecycleAction.CLOSED, at=T0))


def test_memory_stays_bounded(decider: Decider) -> None:
    state = CustomerState()
    for i in range(700):
        decider.decide(contact("chat", f"m{i}", f"question {i}", i * 60), KEY, state, "x")
    assert len(state.seen) <= decider.rules.dedup.seen_contacts
    assert len(state.msgids) <= decider.rules.dedup.message_ids

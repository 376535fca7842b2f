"""Deterministic Chinese demo data, dated relative to today so ETAs and windows stay meaningful."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from shop_api import rules
from shop_api.store import Store, china_now, invoice_number

SEED_VERSION = "2"  # bump when the demo data changes: older databases are reseeded
UNREGISTERED_PHONE = "13700009999"


@dataclass(frozen=True)
class Customer:
    """A demo customer with a default delivery address."""

    name: str
    phone: str
    province: str
    city: str
    detail: str


@dataclass(frozen=True)
class Carrier:
    """A courier company and the warehouse its parcels leave from."""

    name: str
    prefix: str
    origin: str
    origin_hub: str


@dataclass(frozen=True)
class Ship:
    """How far a parcel got: carrier, time of the latest event and number of stages reached."""

    carrier: str
    last: datetime
    stages: int
    signer: str = "本人"


@dataclass(frozen=True)
class Scenario:
    """A demo order or phone number that shows one situation a customer may be in."""

    key: str
    value: str
    description: str


CUSTOMERS = {
    "zhang": Customer("张伟", "13812345678", "北京市", "北京市",
                      "朝阳区建国路88号SOHO现代城2号楼1203室"),
    "li": Customer("李娜", "13987654321", "上海市", "上海市",
                   "浦东新区张杨路500号华润时代广场18楼1806室"),
    "wang": Customer("王芳", "15011112222", "广东省", "广州市",
                     "天河区天河路208号粤海天河城大厦26楼"),
    "liu": Customer("刘洋", "18600001111", "广东省", "深圳市",
                    "南山区高新南一道6号TCL大厦B座1501"),
    "chen": Customer("陈静", "17722223333", "浙江省", "杭州市",
                     "西湖区文三路90号东部软件园3号楼502室"),
    "yang": Customer("杨磊", "13600003333", "四川省", "成都市",
                     "武侯区天府大道中段666号希顿国际广场B座2203"),
    "zhao": Customer("赵敏", "15900004444", "湖北省", "武汉市",
                     "洪山区珞喻路1037号华中科技大学紫菘公寓8栋"),
    "huang": Customer("黄晓明", "18812346789", "江苏省", "南京市",
                      "鼓楼区中山北路30号城市名人公寓1207室"),
    "zhou": Customer("周杰", "13511223344", "山东省", "青岛市",
                     "市南区香港中路76号颐中公寓3单元601"),
    "wu": Customer("吴婷", "13366778899", "福建省", "厦门市",
                   "思明区湖滨南路388号国贸大厦9楼"),
    "xu": Customer("徐刚", "18022334455", "陕西省", "西安市",
                   "雁塔区小寨西路26号6号楼2单元1102"),
    "sun": Customer("孙丽", "15288990011", "湖南省", "长沙市",
                    "岳麓区麓谷大道658号麓谷信息港A座"),
    "ma": Customer("马超", "13799887766", "重庆市", "重庆市",
                   "渝中区民族路188号环球金融中心32楼"),
    "zhu": Customer("朱琳", "18955667788", "天津市", "天津市",
                    "南开区鞍山西道192号金融街中心1号楼"),
}

PRODUCTS = {
    "SKU10023101": ("华为 FreeBuds Pro 3 无线降噪耳机 陶瓷白", 119900),
    "SKU10023415": ("小米14 12GB+256GB 黑色", 399900),
    "SKU10031008": ("九阳 破壁豆浆机 DJ13B-D08D 1.3L", 29900),
    "SKU10042216": ("三只松鼠 每日坚果礼盒 750g/30袋", 12800),
    "SKU10050733": ("李宁 赤兔6 男子跑步鞋 42码 黑白", 39900),
    "SKU10061129": ("美的 智能电饭煲 MB-FB40S 4L", 25900),
    "SKU10070452": ("优衣库 男装 摇粒绒拉链外套 L码 藏青", 19900),
    "SKU10080391": ("安踏 女子连帽运动卫衣 M码 燕麦色", 23900),
    "SKU10091820": ("飞利浦 电动牙刷 HX6730 钻石亮白", 39900),
    "SKU10102257": ("得力 A4复印纸 70g 500张×5包", 11900),
    "SKU10113306": ("罗技 MX Master 3S 无线鼠标 石墨灰", 69900),
    "SKU10124478": ("海尔 十字对开门冰箱 BCD-470WDPG 470L", 329900),
    "SKU10135520": ("戴森 Supersonic 吹风机 HD15 紫红色", 299900),
    "SKU10146601": ("雀巢 1+2 原味速溶咖啡 15g×100条", 8990),
    "SKU10157714": ("洁柔 抽纸 3层120抽×24包", 4990),
    "SKU10168839": ("兰蔻 小黑瓶精华肌底液 50ml", 108000),
    "SKU10179902": ("乐高 机械组 42151 布加迪 Bolide", 44900),
    "SKU10181045": ("小米手环8 NFC版 亮黑色", 24900),
    "SKU10192168": ("苏泊尔 不粘炒锅 28cm 带锅盖", 18900),
    "SKU10203271": ("蒙牛 特仑苏纯牛奶 250ml×12盒", 6990),
    "SKU10214392": ("索尼 WH-1000XM5 头戴式降噪耳机 黑色", 249900),
    "SKU10225413": ("倍思 65W 氮化镓充电器 双口", 12900),
}

CARRIERS = {
    "sf": Carrier("顺丰速运", "SF14", "广东省东莞市", "东莞集散中心"),
    "jd": Carrier("京东物流", "JDVA", "北京市", "北京亚洲一号分拣中心"),
    "zto": Carrier("中通快递", "75", "浙江省杭州市", "杭州转运中心"),
    "yto": Carrier("圆通速递", "YT78", "上海市", "上海青浦转运中心"),
    "yd": Carrier("韵达快递", "43", "浙江省金华市", "义乌分拨中心"),
    "ems": Carrier("中国邮政 EMS", "98", "广东省广州市", "广州邮件处理中心"),
}
COURIERS = ("王师傅（188****2211）", "李师傅（135****6093）", "陈师傅（139****4870）",
            "刘师傅（186****7315）", "赵师傅（177****0562）")
# Hours after pick-up of each tracking stage; the last stage is the signature.
STAGES = (
    (0, "origin", "商家已发货，{carrier}已揽收"),
    (3, "origin", "快件已到达【{origin_hub}】"),
    (9, "origin", "快件已从【{origin_hub}】发出，下一站【{dest_hub}】"),
    (26, "dest", "快件已到达【{dest_hub}】"),
    (33, "dest", "快件已到达【{station}】，正在安排派送"),
    (35, "dest", "【{station}】快递员{courier}正在为您派送，请保持电话畅通"),
    (38, "dest", "您的快件已签收，签收人：{signer}。感谢使用{carrier}，期待再次为您服务"),
)
DELIVERED = len(STAGES)
OUT_FOR_DELIVERY = DELIVERED - 1

SCENARIOS = (
    Scenario("pending_payment", "204006103405", "待付款，刚下单：可取消、可改地址"),
    Scenario("payment_failed_balance", "207151075828",
             "微信支付失败：余额不足 insufficient_balance"),
    Scenario("payment_failed_limit", "258388296247", "储蓄卡支付失败：超出单笔限额 limit_exceeded"),
    Scenario("payment_failed_card_online", "357083062288",
             "银行卡未开通网上支付 card_not_enabled_online"),
    Scenario("payment_failed_timeout", "370011135033", "支付宝支付失败：网络超时 network_timeout"),
    Scenario("payment_failed_risk", "392863837840", "信用卡支付被风控拦截 risk_control"),
    Scenario("payment_expired", "398227159101", "超时未支付已自动取消，之后付款失败 order_expired"),
    Scenario("charged_but_unpaid", "396413411633", "已扣款但订单仍显示待付款（支付回调延迟）"),
    Scenario("paid", "522630583082", "已付款待发货，已预约配送时段：取消会自动退款"),
    Scenario("paid_debit_card", "526244730173", "储蓄卡付款待发货：取消或退款按银行卡时效到账"),
    Scenario("paid_credit_card", "569006026773", "信用卡付款待发货（两件商品）"),
    Scenario("paid_after_retry", "540105932107", "先失败（超限额）后用支付宝付款成功"),
    Scenario("duplicate_charge", "567484788403", "重复扣款：第二笔微信支付自动退款中"),
    Scenario("duplicate_charge_refunded", "796938493739", "重复扣款已退回（已签收订单）"),
    Scenario("shipped", "573262229751", "顺丰运输中，预计明后天送达"),
    Scenario("shipped_stuck", "601005551087", "中通物流 4 天未更新，已超过预计送达日期"),
    Scenario("out_for_delivery", "642772014288", "京东物流派送中"),
    Scenario("delivered", "677303879507", "2 天前签收：可退货、换货、维修"),
    Scenario("delivered_not_received", "704584422232", "显示已签收（快递柜）但客户说没收到"),
    Scenario("return_window_ending", "746848745268", "6 天前签收：七天无理由退货明天截止"),
    Scenario("return_window_expired", "732734274293", "20 天前签收：不能退换，可以保修维修"),
    Scenario("warranty_expired", "742834839157", "400 天前签收：已过一年保修期"),
    Scenario("refund_rejected", "762799556063", "退款被拒绝（已拆封影响二次销售）"),
    Scenario("exchange_in_progress", "768381400453", "换货处理中（尺码偏小）"),
    Scenario("delivery_issue_open", "812535268751", "外箱破损少件，售后单待处理"),
    Scenario("partial_refund", "769214291747", "部分退款已到账（少发补偿 20 元）"),
    Scenario("cancelled_unpaid", "489811496492", "未付款时客户自行取消"),
    Scenario("cancelled_refunded", "514557445965", "付款后取消，退款已到账支付宝"),
    Scenario("refund_pending", "822461416274", "退货退款待审核（储蓄卡）"),
    Scenario("refund_processing_alipay", "836999069892", "未发货退款处理中，支付宝 1-3 天到账"),
    Scenario("refund_processing_debit_card", "840175722846", "退款处理中，储蓄卡 3-7 个工作日到账"),
    Scenario("refund_processing_credit_card", "848434831017", "退款处理中，信用卡最长 15 天到账"),
    Scenario("refunded_wechat", "859127120104", "已退款到微信"),
    Scenario("refunded_debit_card", "864073537038", "已退款到储蓄卡"),
    Scenario("refunded_credit_card", "868057472073", "已退款到信用卡"),
    Scenario("invoice_issued", "677303879507",
             "个人电子发票已开具（抬头 王芳），可下载，可换开一次"),
    Scenario("invoice_reissued", "746848745268",
             "单位发票已换开过一次（天津某公司），不能再换开"),
    Scenario("invoice_pending", "522630583082", "已申请发票，签收后开具，改抬头直接生效"),
    Scenario("invoice_none", "959225646924", "8 天前签收，还没开发票：可以申请电子发票"),
    Scenario("customer_with_history", "13812345678", "张伟：6 个订单，各种状态"),
    Scenario("account_locked", "18600001111", "密码错误次数过多，账号锁定 24 小时"),
    Scenario("account_risk_locked", "13600003333", "账号因风控冻结，需人工解冻"),
    Scenario("account_unverified", "17722223333", "账号未实名认证"),
    Scenario("account_phone_not_bound", "15900004444", "微信注册，未绑定手机号"),
    Scenario("unregistered", UNREGISTERED_PHONE, "未注册的手机号，没有订单"),
)


def scenario(key: str) -> str:
    """The order number or phone number of a demo scenario."""
    return next(item.value for item in SCENARIOS if item.key == key)


class _Builder:
    """Collects the rows of the demo data, with times relative to `now`."""

    def __init__(self, now: datetime) -> None:
        self.now, self.today = now, now.date()
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.orders: dict[str, dict[str, Any]] = {}

    def ago(self, days: int, clock: str) -> datetime:
        """A time `days` before today at `clock` (HH:MM), China time."""
        day = self.today - timedelta(days=days)
        return datetime.combine(day, time.fromisoformat(clock), rules.CHINA_TZ)

    def minutes_ago(self, minutes: int) -> datetime:
        """A time `minutes` before now."""
        return self.now - timedelta(minutes=minutes)

    def order(
        self, order_id: str, who: str, state: str, items: list[tuple[str, int]], *,
        placed: datetime | None = None, method: str | None = None, ship: Ship | None = None,
        slot: tuple[int, str] | None = None,
    ) -> None:
        """Add an order with its items, main payment and tracking."""
        customer = CUSTOMERS[who]
        events = self._events(order_id, customer, ship) if ship else []
        shipped_at = datetime.fromisoformat(events[0]["time"]) if events else None
        if placed is None:  # ordered the evening before the parcel was picked up
            if shipped_at is None:
                raise ValueError(f"order {order_id}: give the time it was placed or a shipment")
            clock = time(20, int(order_id[-2:]) % 60)
            placed = datetime.combine(shipped_at.date() - timedelta(days=1), clock, rules.CHINA_TZ)
        paid_at = placed + timedelta(minutes=2) if method and state != "pending_payment" else None
        amount = sum(PRODUCTS[sku][1] * qty for sku, qty in items)
        row = {
            "order_id": order_id, "phone": customer.phone, "state": state, "amount": amount,
            "payment_method": method if paid_at else None, "created_at": placed.isoformat(),
            "paid_at": _iso(paid_at), "shipped_at": _iso(shipped_at),
            "delivered_at": ship.last.isoformat() if ship and ship.stages == DELIVERED else None,
            "eta": self._eta(state, shipped_at, paid_at, slot), "address_name": customer.name,
            "address_phone": customer.phone, "address_province": customer.province,
            "address_city": customer.city, "address_detail": customer.detail,
        }
        if ship:
            carrier = CARRIERS[ship.carrier]
            row.update(carrier=carrier.name, tracking_number=carrier.prefix + order_id[1:])
        if slot:
            row.update(slot_date=(self.today + timedelta(days=slot[0])).isoformat(),
                       slot_window=slot[1])
        self.orders[order_id] = row
        self.rows["orders"].append(row)
        self.rows["order_items"].extend(
            {"order_id": order_id, "line": line, "sku": sku, "name": PRODUCTS[sku][0],
             "qty": qty, "price": PRODUCTS[sku][1]}
            for line, (sku, qty) in enumerate(items, start=1)
        )
        self.rows["tracking_events"].extend(events)
        if paid_at and method:
            self.payment(order_id, "success", method, paid_at)

    def cancel(self, order_id: str, when: datetime, reason: str) -> None:
        """Mark a seeded order as cancelled at `when`."""
        self.orders[order_id].update(cancelled_at=when.isoformat(), cancel_reason=reason, eta=None)

    def payment(
        self, order_id: str, status: str, method: str, when: datetime,
        failure_code: str | None = None,
    ) -> str:
        """Add a payment attempt; returns its id."""
        payments = self.rows["payments"]
        payment_id = f"PY{order_id}{sum(p['order_id'] == order_id for p in payments) + 1:02d}"
        payments.append({
            "payment_id": payment_id, "order_id": order_id, "status": status, "method": method,
            "amount": self.orders[order_id]["amount"], "failure_code": failure_code,
            "created_at": when.isoformat(),
        })
        return payment_id

    def refund(
        self, order_id: str, status: str, created: datetime, reason: str, *,
        kind: str = "customer_request", amount: int | None = None,
        payment_id: str | None = None, rejection: str | None = None,
    ) -> None:
        """Add a refund; a successful refund of a whole payment marks the payment refunded."""
        refunds = self.rows["refunds"]
        payment = self._payment(payment_id or f"PY{order_id}01")
        amount = amount or payment["amount"]
        arrival = rules.expected_arrival(payment["method"], status, created.date())
        refund_id = f"RF{order_id}{sum(r['order_id'] == order_id for r in refunds) + 1:02d}"
        refunds.append({
            "refund_id": refund_id, "order_id": order_id, "payment_id": payment["payment_id"],
            "kind": kind, "status": status, "amount": amount, "method": payment["method"],
            "reason": reason, "rejection_reason": rejection, "created_at": created.isoformat(),
            "expected_arrival": _iso(arrival), "completed_at": self._completed(status, created),
        })
        if amount == payment["amount"]:
            payment["refund_id"] = refund_id
            if status == "succeeded":
                payment["status"] = "refunded"

    def case(
        self, order_id: str, kind: str, status: str, created: datetime, reason: str,
        description: str,
    ) -> None:
        """Add an after-sales case."""
        cases = self.rows["after_sales"]
        prefix = f"AS{created:%Y%m%d}"
        number = sum(case["case_id"].startswith(prefix) for case in cases) + 1
        cases.append({
            "case_id": f"{prefix}{number:04d}", "order_id": order_id, "type": kind,
            "reason": reason, "description": description, "status": status,
            "created_at": created.isoformat(),
        })

    def account(
        self, who: str, created_days: int, *, phone_bound: bool = True, verified: bool = True,
        locked_until: datetime | None = None, lock_reason: str | None = None,
    ) -> None:
        """Add the account of a customer."""
        self.rows["accounts"].append({
            "phone": CUSTOMERS[who].phone, "phone_bound": phone_bound,
            "locked": lock_reason is not None, "locked_until": _iso(locked_until),
            "lock_reason": lock_reason, "real_name_verified": verified,
            "created_at": self.ago(created_days, "20:16").isoformat(),
        })

    def invoice(
        self, order_id: str, title: str, *, tax_number: str | None = None,
        issued: datetime | None = None, reissued: int = 0,
    ) -> None:
        """Add the e-invoice request of an order: issued at `issued`, else waiting for delivery."""
        invoices = self.rows["invoices"]
        created = issued or datetime.fromisoformat(self.orders[order_id]["paid_at"])
        invoices.append({
            "order_id": order_id, "title_type": "company" if tax_number else "personal",
            "title": title, "tax_number": tax_number, "email": None,
            "status": "issued" if issued else "pending",
            "invoice_number": invoice_number(issued, len(invoices) + 1) if issued else None,
            "amount": self.orders[order_id]["amount"], "issued_at": _iso(issued),
            "reissue_count": reissued, "created_at": created.isoformat(),
        })

    def _payment(self, payment_id: str) -> dict[str, Any]:
        return next(p for p in self.rows["payments"] if p["payment_id"] == payment_id)

    def _completed(self, status: str, created: datetime) -> str | None:
        if status not in ("succeeded", "rejected"):
            return None
        return min(created + timedelta(days=1, hours=2), self.now - timedelta(hours=1)).isoformat()

    def _eta(
        self, state: str, shipped_at: datetime | None, paid_at: datetime | None,
        slot: tuple[int, str] | None,
    ) -> str | None:
        if slot:
            return (self.today + timedelta(days=slot[0])).isoformat()
        if state == "out_for_delivery":
            return self.today.isoformat()
        if state == "shipped" and shipped_at:
            return (shipped_at + timedelta(days=3)).date().isoformat()
        if state == "paid" and paid_at:
            return (paid_at + timedelta(days=3)).date().isoformat()
        return None

    def _events(self, order_id: str, customer: Customer, ship: Ship) -> list[dict[str, Any]]:
        carrier = CARRIERS[ship.carrier]
        city = customer.city.removesuffix("市")
        district = customer.detail.split("区")[0] + "区" if "区" in customer.detail else ""
        dest = customer.city if customer.province == customer.city else (
            customer.province + customer.city)
        fields = {
            "carrier": carrier.name, "origin_hub": carrier.origin_hub,
            "dest_hub": f"{city}转运中心", "station": f"{city}{district}营业部",
            "courier": COURIERS[int(order_id) % len(COURIERS)], "signer": ship.signer,
        }
        start = ship.last - timedelta(hours=STAGES[ship.stages - 1][0])
        return [
            {"order_id": order_id, "time": (start + timedelta(hours=hours)).isoformat(),
             "location": carrier.origin if side == "origin" else dest,
             "description": text.format(**fields)}
            for hours, side, text in STAGES[:ship.stages]
        ]


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


def _accounts(b: _Builder) -> None:
    b.account("zhang", 1460)
    b.account("li", 980)
    b.account("wang", 720)
    b.account("liu", 400, locked_until=b.now + timedelta(hours=24),
              lock_reason="too_many_password_attempts")
    b.account("chen", 35, verified=False)
    b.account("yang", 610, locked_until=None, lock_reason="risk_control")
    b.account("zhao", 200, phone_bound=False)
    b.account("huang", 530)
    b.account("zhou", 860)
    # A lock that has already run out: the account is open again.
    b.account("wu", 1500, locked_until=b.now - timedelta(days=1),
              lock_reason="too_many_password_attempts")
    b.account("xu", 300)
    b.account("sun", 90)
    b.account("ma", 1100)
    b.account("zhu", 450)


def _unpaid(b: _Builder) -> None:
    b.order("204006103405", "zhang", "pending_payment", [("SKU10023101", 1)],
            placed=b.minutes_ago(12))
    b.order("207151075828", "chen", "pending_payment", [("SKU10042216", 2)],
            placed=b.minutes_ago(35))
    b.payment("207151075828", "failed", "wechat_pay", b.minutes_ago(33), "insufficient_balance")
    b.order("258388296247", "huang", "pending_payment", [("SKU10124478", 1)],
            placed=b.minutes_ago(64))
    b.payment("258388296247", "failed", "debit_card", b.minutes_ago(61), "limit_exceeded")
    b.order("357083062288", "zhou", "pending_payment", [("SKU10113306", 1)],
            placed=b.minutes_ago(130))
    b.payment("357083062288", "failed", "debit_card", b.minutes_ago(127), "card_not_enabled_online")
    b.order("370011135033", "wu", "pending_payment", [("SKU10091820", 1)],
            placed=b.minutes_ago(25))
    b.payment("370011135033", "failed", "alipay", b.minutes_ago(23), "network_timeout")
    b.order("392863837840", "yang", "pending_payment", [("SKU10135520", 1)],
            placed=b.minutes_ago(190))
    b.payment("392863837840", "failed", "credit_card", b.minutes_ago(186), "risk_control")
    # The bank took the money but the payment notice has not reached the shop yet.
    b.order("396413411633", "sun", "pending_payment", [("SKU10061129", 1)],
            placed=b.minutes_ago(10))
    b.payment("396413411633", "success", "alipay", b.minutes_ago(8))


def _cancelled(b: _Builder) -> None:
    b.order("398227159101", "xu", "cancelled", [("SKU10050733", 1)], placed=b.ago(1, "21:05"))
    b.cancel("398227159101", b.ago(1, "21:35"), "超时未支付，系统自动取消")
    b.payment("398227159101", "failed", "alipay", b.ago(1, "21:52"), "order_expired")
    b.order("489811496492", "ma", "cancelled", [("SKU10146601", 2)], placed=b.ago(3, "12:40"))
    b.cancel("489811496492", b.ago(3, "12:58"), "不想要了")
    b.order("514557445965", "wang", "cancelled", [("SKU10168839", 1)], method="alipay",
            placed=b.ago(5, "22:10"))
    b.cancel("514557445965", b.ago(4, "09:15"), "价格买贵了，重新下单")
    b.refund("514557445965", "succeeded", b.ago(4, "09:15"), "订单取消", kind="cancellation")


def _paid(b: _Builder) -> None:
    b.order("522630583082", "zhang", "paid", [("SKU10023415", 1), ("SKU10225413", 1)],
            method="alipay", placed=b.ago(1, "20:12"), slot=(2, "18:00-21:00"))
    b.order("526244730173", "wang", "paid", [("SKU10031008", 1)], method="debit_card",
            placed=b.ago(1, "09:30"))
    b.order("540105932107", "li", "paid", [("SKU10179902", 1)], method="alipay",
            placed=b.ago(2, "13:20"))
    b.payment("540105932107", "failed", "debit_card", b.ago(2, "13:21"), "limit_exceeded")
    b.order("567484788403", "li", "paid", [("SKU10214392", 1)], method="wechat_pay",
            placed=b.ago(1, "19:00"))
    extra = b.payment("567484788403", "success", "wechat_pay", b.ago(1, "19:02").replace(second=40))
    b.refund("567484788403", "processing", b.ago(1, "19:30"), "重复支付，系统自动退回",
             kind="duplicate_charge", payment_id=extra)
    b.order("569006026773", "zhu", "paid", [("SKU10157714", 2), ("SKU10203271", 1)],
            method="credit_card", placed=b.ago(1, "08:45"))


def _in_transit(b: _Builder) -> None:
    b.order("573262229751", "zhang", "shipped", [("SKU10070452", 1)], method="wechat_pay",
            ship=Ship("sf", b.minutes_ago(180), 4))
    b.order("601005551087", "zhao", "shipped", [("SKU10080391", 1)], method="alipay",
            ship=Ship("zto", b.ago(4, "08:40"), 4))
    b.order("628926937195", "huang", "shipped", [("SKU10102257", 2)], method="wechat_pay",
            ship=Ship("yto", b.minutes_ago(300), 3))
    b.order("959482937730", "ma", "shipped", [("SKU10042216", 1)], method="alipay",
            ship=Ship("ems", b.minutes_ago(360), 5))
    b.order("642772014288", "li", "out_for_delivery", [("SKU10192168", 1)], method="alipay",
            ship=Ship("jd", b.minutes_ago(40), OUT_FOR_DELIVERY))
    b.order("671510563381", "wu", "out_for_delivery", [("SKU10181045", 1)], method="wechat_pay",
            ship=Ship("sf", b.minutes_ago(80), OUT_FOR_DELIVERY))


def _delivered(b: _Builder) -> None:
    b.order("677303879507", "wang", "delivered", [("SKU10050733", 1)], method="alipay",
            ship=Ship("sf", b.ago(2, "14:20"), DELIVERED))
    b.order("704584422232", "zhou", "delivered", [("SKU10023101", 1)], method="wechat_pay",
            ship=Ship("yd", b.ago(1, "17:45"), DELIVERED, "丰巢智能快递柜"))
    b.order("746848745268", "zhu", "delivered", [("SKU10080391", 1)], method="alipay",
            ship=Ship("yto", b.ago(6, "10:05"), DELIVERED))
    b.order("732734274293", "zhang", "delivered", [("SKU10061129", 1)], method="alipay",
            ship=Ship("jd", b.ago(20, "11:30"), DELIVERED))
    b.order("742834839157", "wu", "delivered", [("SKU10113306", 1)], method="credit_card",
            ship=Ship("sf", b.ago(400, "15:10"), DELIVERED))
    b.order("875751077015", "zhang", "delivered", [("SKU10146601", 1), ("SKU10157714", 1)],
            method="wechat_pay", ship=Ship("jd", b.ago(45, "10:40"), DELIVERED))
    b.order("886311297275", "li", "delivered", [("SKU10168839", 1)], method="alipay",
            ship=Ship("sf", b.ago(33, "16:05"), DELIVERED, "前台代收"))
    b.order("894640702317", "wang", "delivered", [("SKU10203271", 3)], method="wechat_pay",
            ship=Ship("jd", b.ago(12, "09:50"), DELIVERED))
    b.order("930893229211", "liu", "delivered", [("SKU10102257", 1)], method="alipay",
            ship=Ship("yd", b.ago(30, "18:20"), DELIVERED, "家门口"))
    b.order("935929603751", "zhao", "delivered", [("SKU10225413", 1)], method="wechat_pay",
            ship=Ship("ems", b.ago(90, "14:00"), DELIVERED))
    b.order("955447906120", "chen", "delivered", [("SKU10031008", 1)], method="alipay",
            ship=Ship("yto", b.ago(120, "13:35"), DELIVERED))
    b.order("959225646924", "zhou", "delivered", [("SKU10070452", 1)], method="alipay",
            ship=Ship("sf", b.ago(8, "12:15"), DELIVERED))


def _after_sales(b: _Builder) -> None:
    b.order("762799556063", "xu", "delivered", [("SKU10168839", 1)], method="alipay",
            ship=Ship("sf", b.ago(4, "15:30"), DELIVERED))
    b.refund("762799556063", "rejected", b.ago(3, "10:02"), "不喜欢，七天无理由退货",
             rejection="商品已拆封使用，影响二次销售，不符合七天无理由退货条件")
    b.order("768381400453", "chen", "delivered", [("SKU10070452", 1)], method="wechat_pay",
            ship=Ship("zto", b.ago(3, "11:10"), DELIVERED))
    b.case("768381400453", "exchange", "in_progress", b.ago(2, "20:45"), "尺码不合适",
           "L码偏小，想换成XL码，吊牌还在")
    b.order("812535268751", "liu", "delivered", [("SKU10157714", 3)], method="alipay",
            ship=Ship("jd", b.ago(2, "10:25"), DELIVERED))
    b.case("812535268751", "delivery_issue", "open", b.ago(1, "09:12"), "外包装破损少件",
           "箱子破了一个大口，3提抽纸只收到2提")
    b.order("769214291747", "huang", "delivered", [("SKU10042216", 1), ("SKU10146601", 1)],
            method="wechat_pay", ship=Ship("yd", b.ago(5, "19:40"), DELIVERED))
    b.refund("769214291747", "succeeded", b.ago(4, "10:00"), "坚果礼盒少发一袋，补偿差价",
             amount=2000)
    b.order("796938493739", "ma", "delivered", [("SKU10203271", 2)], method="alipay",
            ship=Ship("jd", b.ago(10, "12:30"), DELIVERED))
    extra = b.payment("796938493739", "success", "alipay",
                      datetime.fromisoformat(b.orders["796938493739"]["paid_at"])
                      + timedelta(seconds=25))
    b.refund("796938493739", "succeeded", b.ago(11, "08:00"), "重复支付，系统自动退回",
             kind="duplicate_charge", payment_id=extra)
    b.order("797478242306", "sun", "delivered", [("SKU10091820", 1)], method="alipay",
            ship=Ship("sf", b.ago(60, "17:00"), DELIVERED))
    b.case("797478242306", "repair", "resolved", b.ago(20, "14:30"), "无法充电",
           "充电底座插上后指示灯不亮，已寄回检修并更换底座")


def _refunds(b: _Builder) -> None:
    b.order("822461416274", "liu", "refunding", [("SKU10214392", 1)], method="debit_card",
            ship=Ship("sf", b.ago(5, "13:00"), DELIVERED))
    b.refund("822461416274", "pending", b.ago(1, "21:40"), "左耳没有声音，申请退货退款")
    b.order("836999069892", "zhang", "refunding", [("SKU10179902", 1)], method="alipay",
            placed=b.ago(2, "10:05"))
    b.refund("836999069892", "processing", b.ago(1, "08:30"), "拍错了，不想要了")
    b.order("840175722846", "sun", "refunding", [("SKU10050733", 1)], method="debit_card",
            ship=Ship("zto", b.ago(6, "16:45"), DELIVERED))
    b.refund("840175722846", "processing", b.ago(2, "11:20"), "鞋码偏大，退货退款")
    b.order("848434831017", "yang", "refunding", [("SKU10124478", 1)], method="credit_card",
            ship=Ship("jd", b.ago(5, "09:30"), DELIVERED))
    b.refund("848434831017", "processing", b.ago(3, "14:10"), "冰箱门有划痕，退货退款")
    b.order("859127120104", "chen", "refunded", [("SKU10181045", 1)], method="wechat_pay",
            ship=Ship("zto", b.ago(15, "15:20"), DELIVERED))
    b.refund("859127120104", "succeeded", b.ago(12, "10:45"), "表带断裂，退货退款")
    b.order("864073537038", "zhu", "refunded", [("SKU10192168", 1)], method="debit_card",
            placed=b.ago(9, "18:30"))
    b.refund("864073537038", "succeeded", b.ago(9, "19:05"), "买重复了")
    b.order("868057472073", "li", "refunded", [("SKU10135520", 1)], method="credit_card",
            ship=Ship("sf", b.ago(25, "11:00"), DELIVERED))
    b.refund("868057472073", "succeeded", b.ago(22, "16:30"), "噪音太大，退货退款")


def _invoices(b: _Builder) -> None:
    b.invoice("677303879507", "王芳", issued=b.ago(2, "15:02"))
    b.invoice("746848745268", "天津市南开区朱琳商贸有限公司", tax_number="91120104MA05K8XQ35",
              issued=b.ago(5, "09:40"), reissued=1)
    b.invoice("522630583082", "张伟")


def build(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Every row of the demo data, dated relative to `now`."""
    builder = _Builder(now)
    for part in (_accounts, _unpaid, _cancelled, _paid, _in_transit, _delivered,
                 _after_sales, _refunds, _invoices):
        part(builder)
    return builder.rows


def seed(store: Store, now: datetime | None = None) -> None:
    """Fill an empty store with the demo data."""
    now = now or store.now()
    with store.transaction():
        for table, rows in build(now).items():
            store.insert(table, rows)
        store.set_meta("seed_version", SEED_VERSION)
        store.set_meta("anchor_date", now.date().isoformat())
        store.set_meta("anchor_time", now.isoformat())


def roll_forward(store: Store, now: datetime) -> int:
    """Move demo data seeded earlier forward by whole days; returns the days moved.

    Only full 24-hour periods since the seeding count, so nothing is ever dated after `now`
    (data seeded at 23:50 is not moved at 00:10, when tonight's events have not happened).
    """
    anchor_date = store.get_meta("anchor_date")
    if anchor_date is None:
        return 0
    stored = store.get_meta("anchor_time")
    anchor = (datetime.fromisoformat(stored) if stored else
              datetime.combine(date.fromisoformat(anchor_date), time(23, 59, 59), rules.CHINA_TZ))
    days = int((now - anchor).total_seconds() // 86400)
    if days > 0:
        moved = anchor + timedelta(days=days)
        with store.transaction():
            store.shift_times(days)
            store.set_meta("anchor_date", moved.date().isoformat())
            store.set_meta("anchor_time", moved.isoformat())
    return max(days, 0)


def prepare(db_path: Path | str, reset: bool = False) -> str:
    """Create and seed the database if missing (or on reset); keep demo dates current.

    `db_path`: a SQLite file or a database URL (postgresql://...)."""
    is_url = "://" in str(db_path)
    if reset and not is_url:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    store = Store(str(db_path))
    if reset and is_url:
        store.clear()
    if store.get_meta("seed_version") not in (None, SEED_VERSION):
        store.close()  # demo data of an older version: the scenarios may not be there
        return prepare(db_path, reset=True) + " (older demo data replaced)"
    try:
        if not store.states() and store.get_meta("anchor_date") is None:
            seed(store, china_now())
            return f"seeded demo data into {_shown(db_path)}"
        days = roll_forward(store, store.now())
        return f"moved demo dates forward by {days} days in {_shown(db_path)}" if days else (
            f"using {_shown(db_path)}")
    finally:
        store.close()


def _shown(db_path: Path | str) -> str:
    """A database as the log shows it: a URL without its password."""
    text = str(db_path)
    return repr(make_url(text)) if "://" in text else text

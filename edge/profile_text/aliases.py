"""Other spellings of the markets' place names: how leads write them in other scripts.

An alias is used only for a place the store knows (its listings' cities and neighbourhoods).
"""

from __future__ import annotations

#: Place name (as the listings write it) -> spellings in zh, ja, ko, ru, ar, th, hi.
ALIASES: dict[str, tuple[str, ...]] = {
    "Seattle": ("西雅图", "シアトル", "시애틀", "Сиэтл", "سياتل", "ซีแอตเทิล", "सिएटल"),
    "Bellevue": ("贝尔维尤", "ベルビュー", "벨뷰", "Бельвью", "بلفيو", "เบลล์วิว", "बेलव्यू"),
    "Kirkland": (
        "柯克兰",
        "カークランド",
        "커클랜드",
        "Керкленд",
        "كيركلاند",
        "เคิร์กแลนด์",
        "किर्कलैंड",
    ),
    "Redmond": ("雷德蒙德", "レドモンド", "레드먼드", "Редмонд", "ريدموند", "เรดมอนด์", "रेडमंड"),
    "Renton": ("伦顿", "レントン", "렌턴", "Рентон", "رينتون", "เรนตัน", "रेंटन"),
    "Sammamish": ("萨马米什", "サマミッシュ", "새머미시", "Саммамиш"),
    "Issaquah": ("伊萨夸", "イサクア", "이사콰", "Иссакуа"),
    "Ames": ("艾姆斯", "エイムズ", "에임스", "Эймс", "أميس", "เอมส์", "एम्स"),
}
